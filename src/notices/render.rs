//! Markdown to the HTML part of an e-mail and the review preview: pulldown-cmark renders,
//! ammonia sanitises, so a notice can never carry script or styling into a page or an inbox.

use pulldown_cmark::{Options, Parser, html};

pub fn html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .url_schemes(["https", "mailto"].into_iter().collect())
        .clean(&out)
        .to_string()
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
}
