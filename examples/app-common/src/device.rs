//! "Firefox on Linux": a short description of a `User-Agent`, for the
//! session list.

/// Browsers in the order they must be tested: Edge and Opera say "Chrome"
/// too, and Chrome says "Safari".
const BROWSERS: [(&str, &str); 8] = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
];

/// Systems in the order they must be tested: Android says "Linux", iOS
/// says "like Mac OS X".
const SYSTEMS: [(&str, &str); 7] = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

/// The longest `User-Agent` looked at: anything past it is ignored.
const MAX_LEN: usize = 512;

/// "Firefox on Linux", "Chrome on Android", "Safari on iOS"; "Unknown
/// browser" or "an unknown system" for what it does not recognise, and
/// "Headless Chrome on Linux" for automation.
pub fn describe_user_agent(user_agent: &str) -> String {
    let mut end = user_agent.len().min(MAX_LEN);
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    let ua = user_agent.get(..end).unwrap_or_default();
    let browser = BROWSERS
        .iter()
        .find(|(marker, _)| ua.contains(marker))
        .map(|(_, name)| *name);
    let browser = match browser {
        Some(name) if ua.contains("HeadlessChrome/") => format!("Headless {name}"),
        Some(name) => name.to_owned(),
        None => "Unknown browser".to_owned(),
    };
    let system = SYSTEMS
        .iter()
        .find(|(marker, _)| ua.contains(marker))
        .map_or("an unknown system", |(_, name)| *name);
    format!("{browser} on {system}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
                "Chrome on Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
                "Headless Chrome on Linux",
            ),
            ("curl/8.5.0", "Unknown browser on an unknown system"),
            ("", "Unknown browser on an unknown system"),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe_user_agent(ua), expected, "{ua}");
        }
    }

    #[test]
    fn long_and_odd_input_is_cut_not_a_panic() {
        let long = "é".repeat(10_000);
        assert_eq!(
            describe_user_agent(&long),
            "Unknown browser on an unknown system"
        );
    }
}
