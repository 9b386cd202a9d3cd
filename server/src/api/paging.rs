//! Pagination shared by every list of `/api/v1` and of the MCP tools: `page` (from 1) and
//! `per_page` (1 to 500, 25 by default), in the query string or a tool's arguments; over REST an
//! RFC 8288 `Link` header names the first, previous, next and last pages, so a script follows
//! `rel="next"` until there is none.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use rekey_app::error::AppError;
use serde::Serialize;

/// The most a page holds.
pub(super) const MAX_PER_PAGE: u32 = 500;
const DEFAULT_PER_PAGE: u32 = 25;

/// A page of a list, as `page` and `per_page` ask for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Paging {
    pub page: u32,
    pub per_page: u32,
}

impl Paging {
    /// Reads `page` and `per_page` from a query string; a bad one is refused naming it.
    pub fn parse(page: Option<&str>, per_page: Option<&str>) -> Result<Self, AppError> {
        let number = |name: &str, value: Option<&str>, max: u32| {
            value
                .map(|v| {
                    v.trim()
                        .parse::<u32>()
                        .map_err(|_| out_of_range(name, v, max))
                })
                .transpose()
        };
        Self::new(
            number("page", page, u32::MAX)?,
            number("per_page", per_page, MAX_PER_PAGE)?,
        )
    }

    /// The page a tool's arguments ask for, by the same rules.
    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, AppError> {
        let number = |name: &str, value: Option<u32>, default: u32, max: u32| match value {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(n) => Err(out_of_range(name, &n.to_string(), max)),
        };
        Ok(Self {
            page: number("page", page, 1, u32::MAX)?,
            per_page: number("per_page", per_page, DEFAULT_PER_PAGE, MAX_PER_PAGE)?,
        })
    }

    /// How many items come before this page.
    pub fn offset(self) -> u32 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// The `Link` header for this page of `total` items at `path`, keeping the request's other
    /// query parameters (`query`, as the client sent it) on every link.
    fn links(self, path: &str, query: Option<&str>, total: i64) -> String {
        let kept: String = query
            .unwrap_or_default()
            .split('&')
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or_default();
                !pair.is_empty() && key != "page" && key != "per_page"
            })
            .map(|pair| format!("{pair}&"))
            .collect();
        let per_page = i64::from(self.per_page);
        let last = u32::try_from((total.max(1) + per_page - 1) / per_page)
            .unwrap_or(u32::MAX)
            .max(1);
        let link = |page: u32, rel: &str| {
            format!(
                "<{path}?{kept}page={page}&per_page={}>; rel=\"{rel}\"",
                self.per_page
            )
        };
        let mut links = vec![link(1, "first")];
        if self.page > 1 {
            links.push(link(self.page.min(last + 1) - 1, "prev"));
        }
        if self.page < last {
            links.push(link(self.page + 1, "next"));
        }
        links.push(link(last, "last"));
        links.join(", ")
    }
}

fn out_of_range(name: &str, value: &str, max: u32) -> AppError {
    AppError::invalid(name, format!("'{value}' is not a number from 1 to {max}"))
}

/// A page of a list as JSON, with its `Link` header and the total in `X-Total-Count`.
pub(super) fn paged(
    paging: Paging,
    uri: &axum::http::Uri,
    total: i64,
    body: impl Serialize,
) -> Response {
    let mut response = Json(body).into_response();
    let links = paging.links(uri.path(), uri.query(), total);
    if let Ok(value) = HeaderValue::from_str(&links) {
        response.headers_mut().insert(header::LINK, value);
    }
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_name_the_neighbours_and_keep_the_filters() {
        let paging = Paging::parse(Some("2"), Some("10")).unwrap();
        assert_eq!(paging.offset(), 10);
        assert_eq!(
            paging.links("/api/v1/notices", Some("campaign=3&page=2&per_page=10"), 35),
            "</api/v1/notices?campaign=3&page=1&per_page=10>; rel=\"first\", \
             </api/v1/notices?campaign=3&page=1&per_page=10>; rel=\"prev\", \
             </api/v1/notices?campaign=3&page=3&per_page=10>; rel=\"next\", \
             </api/v1/notices?campaign=3&page=4&per_page=10>; rel=\"last\""
        );
        // The last page has no next; an empty list has one page.
        let last = Paging::parse(Some("4"), Some("10")).unwrap();
        assert!(!last.links("/l", None, 35).contains("next"));
        assert_eq!(
            Paging::parse(None, None).unwrap().links("/l", None, 0),
            "</l?page=1&per_page=25>; rel=\"first\", </l?page=1&per_page=25>; rel=\"last\""
        );
    }

    #[test]
    fn a_bad_page_is_named() {
        assert!(Paging::parse(Some("0"), None).is_err());
        assert!(Paging::parse(None, Some("501")).is_err());
        assert!(Paging::parse(Some("two"), None).is_err());
        assert_eq!(
            Paging::new(Some(3), None).unwrap(),
            Paging::parse(Some("3"), None).unwrap()
        );
        assert!(Paging::new(None, Some(0)).is_err());
    }
}
