//! `/proxy.pac` and `/wpad.dat`: the proxy auto-configuration file that points browsers at
//! the web proxy (UKSIC-F-SF-05: explicit proxy deployment by PAC or WPAD). Local addresses,
//! the console itself and the configured exceptions go direct; everything else goes to the
//! proxy with no fallback, so that a stopped proxy does not mean unfiltered browsing.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// What the PAC file says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pac {
    /// `host:port` of the proxy as school devices reach it. Empty: no proxy to offer.
    pub proxy: String,
    /// Host patterns that go direct (`*.school.internal`, `mis.example.org`).
    pub direct: Vec<String>,
}

/// A JavaScript string literal holding `s` (which config already limits to host patterns).
fn js_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c == ' ' || c.is_ascii_graphic() => out.push(c),
            _ => {}
        }
    }
    out.push('"');
    out
}

/// The file's text for a console at `console_host`.
pub fn render(pac: &Pac, console_host: &str) -> String {
    let mut direct: Vec<String> = vec![console_host.to_owned()];
    direct.extend(pac.direct.iter().cloned());
    let patterns = direct.iter().map(|d| js_string(d)).collect::<Vec<_>>().join(", ");
    let target = if pac.proxy.is_empty() {
        "DIRECT".to_owned()
    } else {
        format!("PROXY {}", pac.proxy)
    };
    format!(
        r#"// schoolgate: the school's web proxy settings. Served at /proxy.pac and /wpad.dat.
function FindProxyForURL(url, host) {{
  host = host.toLowerCase();
  if (isPlainHostName(host) || host == "localhost" || shExpMatch(host, "*.local")) return "DIRECT";
  if (/^[0-9.]+$/.test(host) && (isInNet(host, "10.0.0.0", "255.0.0.0") || isInNet(host, "172.16.0.0", "255.240.0.0") ||
      isInNet(host, "192.168.0.0", "255.255.0.0") || isInNet(host, "127.0.0.0", "255.0.0.0"))) return "DIRECT";
  var direct = [{patterns}];
  for (var i = 0; i < direct.length; i++) {{
    if (host == direct[i] || shExpMatch(host, direct[i])) return "DIRECT";
  }}
  return {target};
}}
"#,
        target = js_string(&target),
    )
}

pub(crate) async fn pac_file(State(state): State<AppState>) -> Response {
    let public = &state.config().public_url;
    let console_host = public
        .split("://")
        .nth(1)
        .unwrap_or(public)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_owned();
    (
        [
            (header::CONTENT_TYPE, "application/x-ns-proxy-autoconfig"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        render(&state.config().pac, &console_host),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_sends_everything_but_local_and_listed_hosts_to_the_proxy() {
        let text = render(
            &Pac {
                proxy: "10.0.0.5:3128".into(),
                direct: vec!["*.school.internal".into(), "evil\"); alert(1); (\"".into()],
            },
            "10.0.0.5",
        );
        assert!(text.contains(r#"return "PROXY 10.0.0.5:3128";"#), "{text}");
        assert!(
            text.contains(r#"var direct = ["10.0.0.5", "*.school.internal", "evil\"); alert(1); (\""];"#),
            "{text}"
        );
        assert!(!text.contains("DIRECT\";\n}"), "no fallback to going direct");
    }
}
