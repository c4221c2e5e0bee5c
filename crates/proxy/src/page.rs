//! The page a blocked plain-HTTP request gets: what was blocked, why, and when, in words a
//! seven-year-old can read and a teacher can act on. An illegal-content block never says
//! which list or entry matched.

/// What the page says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked<'a> {
    /// The address asked for.
    pub url: &'a str,
    /// The category's label (`Games`), if it has one.
    pub category: Option<&'a str>,
    /// A sentence from policy (`Snapshot::reason`), which already hides illegal-list details.
    pub reason: &'a str,
    /// When, as the school reads time (`14:05 on Tuesday 24 November`).
    pub when: &'a str,
    /// Who was signed in, if anyone.
    pub who: Option<&'a str>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page as HTML.
pub fn render(b: &Blocked<'_>) -> String {
    let category = b
        .category
        .map(|c| format!("<p>This kind of site: <strong>{}</strong></p>", escape(c)))
        .unwrap_or_default();
    let who = b
        .who
        .map(|w| format!("<p class=\"small\">Signed in as {}.</p>", escape(w)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>This page is blocked at school</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f6fb; color: #1d2433; margin: 0; }}
main {{ max-width: 38rem; margin: 3rem auto; background: #fff; border-radius: 12px; padding: 2rem; box-shadow: 0 2px 8px #0002; }}
h1 {{ font-size: 1.6rem; margin-top: 0; }}
.url {{ word-break: break-all; background: #f0f2f7; padding: .4rem .6rem; border-radius: 6px; }}
.small {{ color: #56607a; font-size: .9rem; }}
</style>
</head>
<body>
<main>
<h1>This page is blocked at school</h1>
<p>You tried to open:</p>
<p class="url">{url}</p>
{category}
<p>{reason}</p>
<p>If you need this page for your work, ask your teacher.</p>
<p class="small">Blocked at {when}.</p>
{who}
</main>
</body>
</html>
"#,
        url = escape(b.url),
        reason = escape(b.reason),
        when = escape(b.when),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        let html = render(&Blocked {
            url: "http://x.example/<script>alert(1)</script>",
            category: Some("Games & <fun>"),
            reason: "\"quoted\"",
            when: "10:00",
            who: Some("zhart"),
        });
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("Games &amp; &lt;fun&gt;"));
        assert!(html.contains("&quot;quoted&quot;"));
        assert!(html.contains("Signed in as zhart."));
    }
}
