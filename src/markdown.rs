//! Markdown to HTML, for the HTML part of an e-mail and the review preview: pulldown-cmark
//! renders, ammonia sanitises, so a notice can never carry script or styling into a page or an
//! inbox. Also what the checks read: the visible text and the link targets of the result.

use pulldown_cmark::{Options, Parser, html};

/// Markdown rendered to HTML and sanitised with ammonia: what a notice's HTML part and preview show.
pub fn html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .url_schemes(["https", "mailto"].into_iter().collect())
        // In an e-mail a relative or scheme-relative link (`//evil.example`) points nowhere
        // Rekey chose: it goes, like any scheme but https and mailto.
        .url_relative(ammonia::UrlRelative::Deny)
        .clean(&out)
        .to_string()
}

static TAG: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"<[^>]*>").unwrap_or_else(|e| unreachable!("{e}"))
});
static LINK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"\b(?:href|src)="([^"]*)""#).unwrap_or_else(|e| unreachable!("{e}"))
});

/// The text a mail program shows of sanitised HTML: tags dropped, entities decoded. (ammonia's
/// serialiser quotes every attribute and escapes `&`, `<`, `>` and quotes, so this is exact.)
pub fn visible_text(html: &str) -> String {
    decode_entities(&TAG.replace_all(html, " "))
}

/// Every link and image target in sanitised HTML, decoded.
pub fn link_targets(html: &str) -> Vec<String> {
    LINK.captures_iter(html)
        .filter_map(|c| c.get(1))
        .map(|m| decode_entities(m.as_str()))
        .collect()
}

/// Decodes HTML character references: the named ones a serialiser writes and numeric ones.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').filter(|end| *end <= 10).and_then(|end| {
            let name = &after[..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::html;

    #[test]
    fn markdown_renders_and_script_does_not_survive() {
        let out = html(
            "# Rotate\n\n1. **Now**\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) [ok](https://a.example)\n\n| a |\n|---|\n| b |\n",
        );
        assert!(out.contains("<h1>Rotate</h1>"));
        assert!(out.contains("<strong>Now</strong>"));
        assert!(out.contains("<table>"));
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("javascript:"), "{out}");
        assert!(out.contains("href=\"https://a.example\""));
    }

    #[test]
    fn what_a_recipient_sees_is_read_back_exactly() {
        let out = html(
            "See <a href=\"//evil.example\">this</a> and &#115;k_live_x &amp; y <!-- a --> [ok](https://a.example/?a=1&b=2)\n",
        );
        assert!(!out.contains("evil.example"), "relative links go: {out}");
        assert!(super::visible_text(&out).contains("sk_live_x & y"));
        assert_eq!(super::link_targets(&out), ["https://a.example/?a=1&b=2"]);
        assert_eq!(
            super::decode_entities("&#x73;&#107;&unknown; &"),
            "sk&unknown; &"
        );
    }
}
