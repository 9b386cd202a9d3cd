//! The guard every page, server function and API request passes before its handler: who is
//! calling (session or agent token), session timeouts, cross-site request refusal, and the
//! access table's verdict.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rekey_app::access::{self, Access, Hold, Verdict};
use rekey_app::auth::session::{AuthSession, Caller, keys};
use rekey_app::error::AppError;
use rekey_core::Rekey;
use rekey_core::audit::batch::AuditQueue;
use rekey_core::audit::{Detail, SessionEnd, Target};
use rekey_core::clock::Timestamp;
use rekey_core::identity::Identity;
use tower_sessions::Session;

/// What the guard needs besides the request.
#[derive(Clone, Debug)]
pub struct Guard {
    pub rekey: Rekey,
    /// Where each agent's REST call is audited before it runs (MCP audits each tool call).
    pub agent_calls: Arc<AuditQueue>,
    /// The public origin, e.g. `https://rekey.example.com`.
    pub origin: String,
    pub idle_secs: i64,
    pub absolute_secs: i64,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// How often the last-seen time is written back (the idle timeout's resolution).
const LAST_SEEN_RESOLUTION_SECS: i64 = 30;

enum Kind {
    Page,
    ServerFn,
    Rest,
}

fn kind_of(path: &str) -> Kind {
    if path.starts_with("/api/v1/") || path == "/mcp" || path.starts_with("/mcp/") {
        Kind::Rest
    } else if path.starts_with("/api/") {
        Kind::ServerFn
    } else {
        Kind::Page
    }
}

pub async fn guard(
    State(guard): State<Arc<Guard>>,
    auth: AuthSession,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let kind = kind_of(&path);
    let address = client_address(&req, &guard.trusted_proxies);

    let bearer = match kind {
        Kind::Page => None,
        Kind::ServerFn | Kind::Rest => bearer_token(req.headers()),
    };

    let (identity, hold) = match &bearer {
        Some(token) => {
            match rekey_core::agents::authenticate(&guard.rekey.db, token, guard.rekey.now()).await
            {
                Ok(Some(agent)) => (Some(agent), None),
                Ok(None) => {
                    return api_error(AppError::Unauthenticated(
                        "the API token is not valid or was revoked".into(),
                    ));
                }
                Err(e) => return api_error(e.into()),
            }
        }
        None => match session_person(&guard, auth, &session).await {
            Ok(found) => found,
            Err(e) => return error_for(&kind, e.into()),
        },
    };

    let route = match kind {
        Kind::Page => access::page_rule(&path).map(|rule| (None, rule)),
        Kind::ServerFn => access::server_fn_rule(&path).map(|rule| (None, rule)),
        Kind::Rest => {
            access::api_route(method.as_str(), &path).map(|(pattern, rule)| (Some(pattern), rule))
        }
    };
    let rule = route.map(|(_, rule)| rule);
    let verdict = rule.map(|rule| access::decide(rule, identity.as_ref().map(Into::into), hold));

    // A signed request proves its sender by its signature; it never comes from a browser.
    if is_state_changing(&method)
        && bearer.is_none()
        && rule != Some(Access::Signed)
        && !same_origin(req.headers(), &guard.origin)
    {
        tracing::info!(%path, "refused a cross-site request");
        return api_error(AppError::CrossSite);
    }
    // Every call an agent makes is audited before it runs: REST routes by their pattern, server
    // functions by their path, anything else as unknown (a refusal too).
    if let Some(agent) = &identity
        && !matches!(kind, Kind::Page)
    {
        let called = match route {
            Some((Some(pattern), _)) => pattern,
            Some((None, _)) => path.as_str(),
            None => UNKNOWN_ENDPOINT,
        };
        if let Err(e) = audit_agent_call(&guard, agent, &method, called, verdict).await {
            return api_error(e);
        }
    }
    let (Some(rule), Some(verdict)) = (rule, verdict) else {
        return match kind {
            // Unlisted pages render as nobody: at most a "not found" page.
            Kind::Page => {
                req.extensions_mut().insert(Caller {
                    identity: None,
                    address,
                    hold: None,
                });
                next.run(req).await
            }
            Kind::ServerFn | Kind::Rest => api_error(AppError::NotFound(format!(
                "there is no endpoint {method} {path}"
            ))),
        };
    };

    match verdict {
        Verdict::Allow => {
            req.extensions_mut().insert(Caller {
                identity,
                address,
                hold,
            });
            next.run(req).await
        }
        Verdict::SignIn => match kind {
            Kind::Page => {
                let target = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Redirect::to(&format!("/login?next={}", encode_component(target))).into_response()
            }
            _ => api_error(AppError::SignInRequired),
        },
        Verdict::Held(hold) => match kind {
            Kind::Page => Redirect::to("/account").into_response(),
            _ => api_error(AppError::Refused(hold.reason().into())),
        },
        Verdict::Deny => error_for(
            &kind,
            match (rule, &identity) {
                (Access::Allowed(p), Some(who)) => AppError::forbidden(who, p),
                _ => AppError::Forbidden(access::needed(rule).to_string()),
            },
        ),
    }
}

/// How an agent's call to an endpoint Rekey does not have is audited: its path is whatever the
/// agent typed, so it is not kept (as an unknown tool's name is not).
const UNKNOWN_ENDPOINT: &str = "(unknown)";

/// Audits an agent's call before it runs, refusals included (`verdict` is `None` for an
/// endpoint that does not exist), with the token it called with; a call whose entry cannot be
/// written is not run. The MCP endpoint is left to the MCP server, which audits each tool call
/// the same way.
async fn audit_agent_call(
    guard: &Guard,
    agent: &Identity,
    method: &Method,
    route: &str,
    verdict: Option<Verdict>,
) -> Result<(), AppError> {
    let Identity::Agent { token, .. } = agent else {
        return Ok(());
    };
    if route == "/mcp" {
        return Ok(());
    }
    let detail = Detail::ApiCalled {
        token: *token,
        route: format!("{method} {route}"),
        outcome: if verdict == Some(Verdict::Allow) {
            "called"
        } else {
            "refused"
        }
        .into(),
    };
    guard
        .agent_calls
        .record(agent.into(), Target::Token(*token), detail)
        .await?;
    Ok(())
}

/// The signed-in person of this session, after the idle and absolute timeouts; and the step
/// they must take on their account page first, if any.
async fn session_person(
    guard: &Guard,
    mut auth: AuthSession,
    session: &Session,
) -> Result<(Option<Identity>, Option<Hold>), rekey_core::error::Error> {
    let Some(user) = auth.user.clone() else {
        return Ok((None, None));
    };
    let user = user.0;
    let now = guard.rekey.now();
    let read = |key: &'static str| async move {
        session
            .get::<i64>(key)
            .await
            .ok()
            .flatten()
            .map(Timestamp::from_micros)
    };
    let signed_in = read(keys::SIGNED_IN_AT).await;
    let last_seen = read(keys::LAST_SEEN_AT).await;
    let ended = match (signed_in, last_seen) {
        (Some(s), _) if now.secs_since(s) >= guard.absolute_secs => Some(SessionEnd::Absolute),
        (_, Some(l)) if now.secs_since(l) >= guard.idle_secs => Some(SessionEnd::Idle),
        (None, _) | (_, None) => Some(SessionEnd::Absolute),
        _ => None,
    };
    if let Some(end) = ended {
        rekey_core::login::session_expired(&guard.rekey, &user, end).await?;
        if let Err(e) = auth.logout().await {
            tracing::warn!(error = ?e, "could not end an expired session");
        }
        return Ok((None, None));
    }
    if last_seen.is_some_and(|l| now.secs_since(l) >= LAST_SEEN_RESOLUTION_SECS)
        && let Err(e) = session.insert(keys::LAST_SEEN_AT, now.as_micros()).await
    {
        tracing::warn!(error = ?e, "could not record session activity");
    }
    let hold = if user.must_change_password {
        Some(Hold::ChangePassword)
    } else {
        let settings = rekey_core::settings::load(&guard.rekey.db).await?;
        (settings.totp_required_for(user.role) && !user.totp_enrolled).then_some(Hold::EnrolTotp)
    };
    Ok((Some(user.identity()), hold))
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a state-changing request came from Rekey's own pages. Browsers send
/// `Sec-Fetch-Site` on every request and `Origin` on every POST; a request with neither is not
/// from a browser page of ours and is refused too (leptos issue #3786: server functions have no
/// CSRF protection of their own).
fn same_origin(headers: &HeaderMap, origin: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin";
    }
    let Some(sent) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if sent.eq_ignore_ascii_case(origin) {
        return true;
    }
    // Also accept the origin the request was addressed to, for deployments reached under
    // several names; an attacker's page cannot make a browser send a foreign Origin.
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    host.is_some_and(|h| {
        let scheme = if origin.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        sent.eq_ignore_ascii_case(&format!("{scheme}://{h}"))
    })
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The client's address: the peer that connected, unless that peer is a trusted proxy; then
/// the nearest address in `X-Forwarded-For` that is not itself a trusted proxy (the rightmost
/// untrusted one: addresses to its left were written by the client and prove nothing).
fn client_address(req: &Request, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())?;
    forwarded_client(peer, req.headers(), trusted)
}

fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    Some(
        hops.iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .or(hops.first())
            .copied()
            .unwrap_or(peer),
    )
}

/// The hosts Rekey answers for: its public URL's, and on a loopback listener the loopback names
/// of the same port. Anything else is refused before the request goes further, which closes DNS
/// rebinding (an attacker's name resolving to 127.0.0.1 or an intranet address).
#[derive(Clone, Debug)]
pub struct AllowedHosts(pub Vec<String>);

impl AllowedHosts {
    pub fn new(public_authority: &str, https: bool, listen: SocketAddr) -> Self {
        let mut hosts = vec![public_authority.to_ascii_lowercase()];
        let default_port = if https { 443 } else { 80 };
        if !public_authority.contains(':') || public_authority.ends_with(']') {
            hosts.push(format!("{public_authority}:{default_port}"));
        } else if let Some(bare) = public_authority.strip_suffix(&format!(":{default_port}")) {
            hosts.push(bare.to_string());
        }
        if listen.ip().is_loopback() {
            let port = listen.port();
            for name in ["127.0.0.1", "localhost", "[::1]"] {
                hosts.push(format!("{name}:{port}"));
            }
        }
        hosts.sort();
        hosts.dedup();
        Self(hosts)
    }

    fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        self.0.contains(&host)
    }
}

pub async fn allowed_host(
    State(hosts): State<Arc<AllowedHosts>>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    match host {
        Some(host) if hosts.allows(&host) => next.run(req).await,
        other => {
            tracing::info!(host = ?other, "refused a request for another host");
            let message = "This Rekey answers only for the host in its REKEY_PUBLIC_URL.";
            (
                StatusCode::MISDIRECTED_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                message,
            )
                .into_response()
        }
    }
}

/// An error as JSON with its status: the body server functions decode as [`AppError`].
pub fn api_error(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(&error).unwrap_or_else(|_| "{\"error\":\"internal\"}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_for(kind: &Kind, error: AppError) -> Response {
    match kind {
        Kind::Page => page_error(error),
        _ => api_error(error),
    }
}

/// A small page for a refusal before the app renders.
fn page_error(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = html_escape(&error.sentence());
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not allowed · Rekey</title>\
         <link rel=\"stylesheet\" href=\"/pkg/rekey.css\"></head><body class=\"bg-slate-50\">\
         <main class=\"mx-auto mt-16 max-w-lg rounded-lg border border-slate-200 bg-white p-6\">\
         <h1 class=\"mb-2 text-xl font-bold\">Not allowed</h1><p role=\"alert\">{message}</p>\
         <p class=\"mt-4\"><a class=\"text-indigo-700 underline\" href=\"/\">Go home</a></p></main></body></html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        Body::from(body),
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The rule of a request, for tests that walk the table.
pub fn rule_of(method: &str, path: &str) -> Option<Access> {
    match kind_of(path) {
        Kind::Page => access::page_rule(path),
        Kind::ServerFn => access::server_fn_rule(path),
        Kind::Rest => access::api_rule(method, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_our_own_pages_may_change_state() {
        let origin = "http://127.0.0.1:3000";
        assert!(same_origin(
            &headers(&[("sec-fetch-site", "same-origin")]),
            origin
        ));
        assert!(!same_origin(
            &headers(&[("sec-fetch-site", "cross-site"), ("origin", origin)]),
            origin
        ));
        assert!(same_origin(&headers(&[("origin", origin)]), origin));
        assert!(!same_origin(
            &headers(&[("origin", "http://evil.example")]),
            origin
        ));
        assert!(!same_origin(&headers(&[]), origin));
        assert!(same_origin(
            &headers(&[
                ("origin", "http://rekey.internal:3000"),
                ("host", "rekey.internal:3000")
            ]),
            origin
        ));
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let trusted = vec!["10.0.0.0/24".parse::<ipnet::IpNet>().unwrap()];
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.1")]);
        assert_eq!(
            forwarded_client(proxy, &h, &trusted),
            Some("203.0.113.9".parse().unwrap()),
            "the rightmost address the proxies did not write themselves"
        );
        let direct: IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(forwarded_client(direct, &h, &trusted), Some(direct));
        assert_eq!(forwarded_client(proxy, &h, &[]), Some(proxy));
        assert_eq!(
            forwarded_client(proxy, &headers(&[]), &trusted),
            Some(proxy)
        );
    }

    #[test]
    fn only_the_public_host_is_answered() {
        let listen: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let demo = AllowedHosts::new("127.0.0.1:3000", false, listen);
        assert!(demo.allows("127.0.0.1:3000"));
        assert!(demo.allows("LOCALHOST:3000"));
        assert!(!demo.allows("evil.example:3000"));
        assert!(!demo.allows("127.0.0.1:3001"));
        let public = AllowedHosts::new("rekey.example.com", true, "10.0.0.5:3000".parse().unwrap());
        assert!(public.allows("rekey.example.com"));
        assert!(public.allows("rekey.example.com:443"));
        assert!(!public.allows("10.0.0.5:3000"));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer rk_at_x")])).as_deref(),
            Some("rk_at_x")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Basic abc")])),
            None
        );
    }

    #[test]
    fn next_targets_are_encoded() {
        assert_eq!(
            encode_component("/audit?actor=a b"),
            "/audit%3Factor%3Da%20b"
        );
    }
}
