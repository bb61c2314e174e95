//! Node.js release lines and when each stops getting fixes, from the Node.js
//! release schedule; lines past it earn a warning. Update with each new line.

use std::time::SystemTime;

/// (major, end of life, long-term support). Dates of lines not yet at end
/// of life are the schedule's plan.
const LINES: &[(u32, &str, bool)] = &[
    (18, "2025-04-30", true),
    (19, "2023-06-01", false),
    (20, "2026-04-30", true),
    (21, "2024-06-01", false),
    (22, "2027-04-30", true),
    (23, "2025-06-01", false),
    (24, "2028-04-30", true),
    (25, "2026-06-01", false),
    (26, "2029-04-30", true),
];

/// When release line `major` reached its end of life, if it did by `now`;
/// lines newer than the table are taken as supported.
pub fn ended(major: u32, now: SystemTime) -> Option<&'static str> {
    let (_, end, _) = LINES.iter().find(|(line, _, _)| *line == major)?;
    let ended = humantime::parse_rfc3339(&format!("{end}T00:00:00Z")).expect("valid table date");
    (now >= ended).then_some(*end)
}

/// A warning when release line `major` is past its end of life at `now`.
pub fn end_of_life_warning(major: u32, now: SystemTime) -> Option<String> {
    let end = ended(major, now)?;
    let suggestion = LINES
        .iter()
        .filter(|(_, end, lts)| {
            *lts && humantime::parse_rfc3339(&format!("{end}T00:00:00Z")).is_ok_and(|e| now < e)
        })
        .map(|(line, end, _)| format!("; use {line} (supported until {end})"))
        .next_back()
        .unwrap_or_default();
    Some(format!(
        "runtime.node.version: Node.js {major} reached its end of life on {end} and gets no more security fixes{suggestion}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: &str) -> SystemTime {
        humantime::parse_rfc3339(&format!("{day}T12:00:00Z")).unwrap()
    }

    #[test]
    fn a_line_past_its_end_of_life_is_named_with_the_newest_lts_instead() {
        assert_eq!(
            end_of_life_warning(20, at("2026-11-25")).as_deref(),
            Some(
                "runtime.node.version: Node.js 20 reached its end of life on 2026-04-30 and gets no more security fixes; use 26 (supported until 2029-04-30)"
            )
        );
        assert!(end_of_life_warning(25, at("2026-11-25")).is_some());
    }

    #[test]
    fn supported_and_unknown_lines_pass() {
        assert_eq!(end_of_life_warning(22, at("2026-11-25")), None);
        assert_eq!(end_of_life_warning(20, at("2026-04-29")), None);
        assert_eq!(end_of_life_warning(40, at("2026-11-25")), None);
    }
}
