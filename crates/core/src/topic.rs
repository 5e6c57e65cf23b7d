//! Topic names and filters (MQTT 5.0 §4.7, 3.1.1 §4.7).

use thiserror::Error;

/// Why a topic name or filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicError {
    #[error("topic is empty")]
    Empty,
    #[error("topic name contains a wildcard ('+' or '#')")]
    WildcardInName,
    #[error("'#' must be the last level of a filter, alone in its level")]
    BadMultiLevel,
    #[error("'+' must occupy a whole level of a filter")]
    BadSingleLevel,
    #[error("topic contains U+0000")]
    Nul,
    #[error(
        "shared subscription must be $share/<group>/<filter> with a non-empty group without wildcards"
    )]
    BadShare,
    #[error("topic has {levels} levels, more than the limit of {max} (mqtt.topic_levels_max)")]
    TooManyLevels { levels: usize, max: usize },
}

/// Refuse a topic name or filter (without `$share/<group>/`) deeper than `max` levels.
pub fn check_levels(topic: &str, max: usize) -> Result<(), TopicError> {
    let levels = topic.bytes().filter(|b| *b == b'/').count() + 1;
    if levels > max {
        return Err(TopicError::TooManyLevels { levels, max });
    }
    Ok(())
}

/// Check a topic name used in PUBLISH.
pub fn validate_name(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.contains('\0') {
        return Err(TopicError::Nul);
    }
    if topic.contains(['+', '#']) {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Check a topic filter (without a `$share/` prefix).
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    if filter.is_empty() {
        return Err(TopicError::Empty);
    }
    if filter.contains('\0') {
        return Err(TopicError::Nul);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::BadMultiLevel);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::BadSingleLevel);
        }
    }
    Ok(())
}

/// A subscription filter as the client wrote it, split into share group and filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFilter<'a> {
    /// The shared subscription group, for `$share/<group>/<filter>`.
    pub group: Option<&'a str>,
    /// The topic filter proper.
    pub filter: &'a str,
}

/// Parse and validate a SUBSCRIBE / UNSUBSCRIBE filter, including `$share/`.
pub fn parse_filter(raw: &str) -> Result<ParsedFilter<'_>, TopicError> {
    if let Some(rest) = raw.strip_prefix("$share/") {
        let (group, filter) = rest.split_once('/').ok_or(TopicError::BadShare)?;
        if group.is_empty() || group.contains(['+', '#']) {
            return Err(TopicError::BadShare);
        }
        validate_filter(filter)?;
        return Ok(ParsedFilter {
            group: Some(group),
            filter,
        });
    }
    validate_filter(raw)?;
    Ok(ParsedFilter {
        group: None,
        filter: raw,
    })
}

/// Does `filter` match `topic`? Wildcards at the first level never match `$` topics.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// True when the filter contains a wildcard.
pub fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_follow_the_spec_examples() {
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(matches("sport/#", "sport"));
        assert!(matches("#", "a/b/c"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(matches("sport/+", "sport/"));
        assert!(!matches("sport/+", "sport"));
        assert!(!matches("#", "$SYS/broker"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    }

    #[test]
    fn invalid_filters_are_refused() {
        assert_eq!(validate_filter("a/#/b"), Err(TopicError::BadMultiLevel));
        assert_eq!(validate_filter("a#"), Err(TopicError::BadMultiLevel));
        assert_eq!(validate_filter("a/b+"), Err(TopicError::BadSingleLevel));
        assert_eq!(validate_filter(""), Err(TopicError::Empty));
        assert!(validate_filter("a//+/#").is_ok());
        assert_eq!(validate_name("a/+"), Err(TopicError::WildcardInName));
        assert!(check_levels("a/b/c", 3).is_ok());
        assert_eq!(
            check_levels("a/b/c/", 3),
            Err(TopicError::TooManyLevels { levels: 4, max: 3 })
        );
        assert_eq!(parse_filter("$share/g"), Err(TopicError::BadShare));
        assert_eq!(parse_filter("$share//a"), Err(TopicError::BadShare));
        assert_eq!(
            parse_filter("$share/g/a/+").expect("valid"),
            ParsedFilter {
                group: Some("g"),
                filter: "a/+"
            }
        );
    }
}
