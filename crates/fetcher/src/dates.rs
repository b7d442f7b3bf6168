//! Publication dates that feed-rs does not read.
//!
//! feed-rs reads RFC 3339 and RFC 2822 dates, leniently. Real feeds also carry dates in forms
//! no standard allows, and an item without a date is placed at its fetch time, which can cost
//! the original publisher its place as a story's canonical item. [`parse_lenient`] is tried on
//! the raw text of an entry's date element when feed-rs found no date in it:
//!
//! - ISO 8601 without a time zone or with a space for the `T` (`2024-02-05 10:00:00`), or a
//!   bare date;
//! - RFC 2822 without a zone, with a zone abbreviation it does not know (`MSK`, `CET`), or in
//!   the RFC 850 form (`Monday, 05-Feb-24 10:00:00 GMT`);
//! - day-first numeric dates (`05.02.2024 10:00`, `05/02/2024`);
//! - Unix time in seconds;
//! - Russian and Ukrainian day and month names (`Пн, 05 фев 2024 10:00:00 +0300`).
//!
//! A date with no zone is taken as UTC.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Zone abbreviations feeds use, with their offset from UTC in minutes (the ambiguous ones,
/// such as IST or CST, are left out).
const ZONES: &[(&str, i32)] = &[
    ("UT", 0),
    ("UTC", 0),
    ("GMT", 0),
    ("Z", 0),
    ("WET", 0),
    ("WEST", 60),
    ("BST", 60),
    ("CET", 60),
    ("CEST", 120),
    ("MEZ", 60),
    ("MESZ", 120),
    ("EET", 120),
    ("EEST", 180),
    ("MSK", 180),
    ("MSD", 240),
    ("SAMT", 240),
    ("YEKT", 300),
    ("OMST", 360),
    ("KRAT", 420),
    ("IRKT", 480),
    ("YAKT", 540),
    ("VLAT", 600),
    ("JST", 540),
    ("KST", 540),
    ("HKT", 480),
    ("SGT", 480),
    ("AEST", 600),
    ("AEDT", 660),
    ("NZST", 720),
    ("NZDT", 780),
    ("EST", -300),
    ("EDT", -240),
    ("PST", -480),
    ("PDT", -420),
    ("MST", -420),
    ("MDT", -360),
];

/// Month names and abbreviations that are not English, by their first letters (lowercase).
const MONTHS: &[(&str, &str)] = &[
    ("янв", "Jan"),
    ("фев", "Feb"),
    ("мар", "Mar"),
    ("апр", "Apr"),
    ("май", "May"),
    ("мая", "May"),
    ("июн", "Jun"),
    ("июл", "Jul"),
    ("авг", "Aug"),
    ("сен", "Sep"),
    ("окт", "Oct"),
    ("ноя", "Nov"),
    ("дек", "Dec"),
    ("січ", "Jan"),
    ("лют", "Feb"),
    ("бер", "Mar"),
    ("кві", "Apr"),
    ("тра", "May"),
    ("чер", "Jun"),
    ("лип", "Jul"),
    ("сер", "Aug"),
    ("вер", "Sep"),
    ("жов", "Oct"),
    ("лис", "Nov"),
    ("гру", "Dec"),
];

/// The date in `text`, in one of the forms of the module documentation.
pub fn parse_lenient(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if text.is_empty() || text.len() > 80 {
        return None;
    }
    if let Some(unix) = unix_seconds(text) {
        return Some(unix);
    }
    let english = english_months(text);
    let (rest, offset) = split_zone(&english);
    let offset = FixedOffset::east_opt(offset.unwrap_or(0) * 60)?;
    let naive = naive_datetime(rest)?;
    offset.from_local_datetime(&naive).single().map(|d| d.with_timezone(&Utc))
}

/// Ten digits: seconds since 1970 (2001 to 2286).
fn unix_seconds(text: &str) -> Option<DateTime<Utc>> {
    if text.len() != 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Utc.timestamp_opt(text.parse().ok()?, 0).single()
}

/// `text` with Russian or Ukrainian month names made English abbreviations and day names
/// (a word before a comma) dropped.
fn english_months(text: &str) -> String {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let letters: String = word.chars().take_while(|c| c.is_alphabetic()).flat_map(char::to_lowercase).collect();
        let cyrillic = letters.chars().next().is_some_and(|c| ('\u{0400}'..='\u{04FF}').contains(&c));
        if !cyrillic {
            out.push(word.to_string());
            continue;
        }
        if word.ends_with(',') {
            continue;
        }
        let stem: String = letters.chars().take(3).collect();
        match MONTHS.iter().find(|(m, _)| *m == stem) {
            Some((_, english)) => out.push((*english).to_string()),
            None => return text.to_string(),
        }
    }
    out.join(" ")
}

/// Splits a trailing zone off `text`: a numeric offset (`+0300`, `+03:00`) or a known
/// abbreviation, in minutes east of UTC.
fn split_zone(text: &str) -> (&str, Option<i32>) {
    let text = text.trim();
    let Some((rest, last)) = text.rsplit_once(' ').map(|(r, l)| (r.trim_end(), l)) else {
        return (text, None);
    };
    if let Some(&(_, minutes)) = ZONES.iter().find(|(name, _)| name.eq_ignore_ascii_case(last)) {
        return (rest, Some(minutes));
    }
    if let Some(minutes) = numeric_offset(last) {
        return (rest, Some(minutes));
    }
    (text, None)
}

fn numeric_offset(zone: &str) -> Option<i32> {
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (digits[..2].parse().ok()?, digits[2..].parse().ok()?);
    (h < 24 && m < 60).then_some(sign * (h * 60 + m))
}

/// A date and time without a zone, in the forms of the module documentation.
fn naive_datetime(text: &str) -> Option<NaiveDateTime> {
    // A weekday before a comma says nothing the date does not.
    let text = match text.split_once(',') {
        Some((day, rest)) if day.chars().all(char::is_alphabetic) => rest.trim(),
        _ => text.trim(),
    };
    // ISO's `T` between the date and the time, as a space.
    let text = match text.as_bytes().get(10) {
        Some(b'T') if text.as_bytes()[4] == b'-' => format!("{} {}", &text[..10], &text[11..]),
        _ => text.to_string(),
    };
    const WITH_TIME: &[&str] = &[
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%d %b %Y %H:%M:%S",
        "%d %b %Y %H:%M",
        "%d %B %Y %H:%M:%S",
        "%d %B %Y %H:%M",
        "%d-%b-%y %H:%M:%S",
        "%d-%b-%Y %H:%M:%S",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
    ];
    const DATE_ONLY: &[&str] = &["%Y-%m-%d", "%d %b %Y", "%d %B %Y", "%d.%m.%Y", "%d/%m/%Y"];
    WITH_TIME.iter().find_map(|f| NaiveDateTime::parse_from_str(&text, f).ok()).or_else(|| {
        DATE_ONLY.iter().find_map(|f| NaiveDate::parse_from_str(&text, f).ok()).and_then(|d| d.and_hms_opt(0, 0, 0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<String> {
        parse_lenient(text).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }

    #[test]
    fn forms_feeds_use_that_no_standard_allows() {
        let ten = Some("2024-02-05T10:00:00Z".to_string());
        for text in [
            "2024-02-05 10:00:00",
            "2024-02-05T10:00:00",
            "2024-02-05 10:00",
            "2024-02-05 13:00:00 +0300",
            "Mon, 05 Feb 2024 10:00:00",
            "Mon, 05 Feb 2024 13:00:00 MSK",
            "Mon, 05 Feb 2024 11:00:00 CET",
            "Monday, 05-Feb-24 10:00:00 GMT",
            "05.02.2024 10:00",
            "05/02/2024 10:00:00",
            "1707127200",
            "Пн, 05 фев 2024 13:00:00 +0300",
            "5 февраля 2024 13:00 MSK",
            "05 лютого 2024 12:00:00 +02:00",
        ] {
            assert_eq!(at(text), ten, "{text}");
        }
        assert_eq!(at("2024-02-05").as_deref(), Some("2024-02-05T00:00:00Z"));
    }

    #[test]
    fn what_is_not_a_date_stays_none() {
        for text in ["", "yesterday", "2024-13-45 10:00", "Mon, 05 Xyz 2024 10:00:00", "12345", "вчера в 10:00"] {
            assert_eq!(at(text), None, "{text}");
        }
    }
}
