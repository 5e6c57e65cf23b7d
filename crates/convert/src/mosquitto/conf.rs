//! `mosquitto.conf`: the settings that have a Holdfast meaning become a `holdfast.toml` in
//! the archive (node settings) or cluster config commands; every other line goes to the
//! report. Mosquitto 2's default of `allow_anonymous false` is made explicit.

use std::path::Path;

use holdfast_store::Command;

use super::{file_name, read_text};
use crate::{ConvertError, Report, Sink};

#[derive(Debug)]
pub(crate) struct Conf {
    file: String,
    /// `(line number, key, value)`.
    lines: Vec<(usize, String, String)>,
}

pub(crate) fn parse(path: &Path) -> Result<Conf, ConvertError> {
    let file = file_name(path);
    let text = read_text(path, "mosquitto.conf")?;
    Ok(parse_text(&file, &text))
}

fn parse_text(file: &str, text: &str) -> Conf {
    let lines = text
        .lines()
        .enumerate()
        .filter_map(|(n, l)| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            Some((n + 1, k.to_string(), v.trim().to_string()))
        })
        .collect();
    Conf {
        file: file.to_string(),
        lines,
    }
}

impl Conf {
    /// Emit the cluster config commands; return the `holdfast.toml` text, if any setting
    /// went there.
    pub(crate) fn emit(
        self,
        sink: &mut Sink<'_>,
        report: &mut Report,
    ) -> Result<Option<String>, ConvertError> {
        let file = self.file.as_str();
        let mut listeners = 0;
        let mut bind: Option<String> = None;
        let mut mqtt: Vec<(String, String)> = Vec::new();
        let mut anonymous: Option<bool> = None;
        for (line, key, value) in &self.lines {
            let record = format!("{key} (line {line})");
            let number = || value.parse::<u64>().ok();
            match key.as_str() {
                "listener" => {
                    listeners += 1;
                    let mut words = value.split_whitespace();
                    let port = words.next().and_then(|p| p.parse::<u16>().ok());
                    let addr = words.next().unwrap_or("0.0.0.0");
                    match (listeners, port) {
                        (1, Some(p)) => {
                            let addr = if addr.contains(':') {
                                format!("[{addr}]")
                            } else {
                                addr.to_string()
                            };
                            bind = Some(format!("{addr}:{p}"));
                            report.carried(file, "holdfast.toml");
                        }
                        _ => report.not_carried(
                            file,
                            record,
                            "only the first `listener` maps to listeners.tcp.bind; add TLS or \
                             WebSocket listeners to holdfast.toml by hand",
                        ),
                    }
                }
                "allow_anonymous" => match value.as_str() {
                    "true" | "false" => {
                        anonymous = Some(value == "true");
                        report.carried(file, "cluster_config");
                    }
                    _ => report.not_carried(file, record, "not true or false"),
                },
                "max_queued_messages" | "max_packet_size" | "max_keepalive" => {
                    let holdfast = match key.as_str() {
                        "max_queued_messages" => "queued_messages_max",
                        "max_packet_size" => "packet_bytes_max",
                        _ => "keepalive_secs_max",
                    };
                    match number() {
                        Some(n) if n > 0 => {
                            mqtt.push((holdfast.into(), n.to_string()));
                            report.carried(file, "holdfast.toml");
                        }
                        _ => report.not_carried(
                            file,
                            record,
                            "0 or no number: Holdfast's default stays",
                        ),
                    }
                }
                "persistence"
                | "persistence_location"
                | "persistence_file"
                | "autosave_interval" => {
                    report.mapped(
                        file,
                        record,
                        "Holdfast always keeps sessions, queues and retained messages in its \
                         store (store.durability = \"sync\" by default); no setting needed",
                    );
                }
                "password_file" | "acl_file" | "plugin" | "plugin_opt_config_file" => {
                    report.mapped(
                        file,
                        record,
                        "the file it names is converted when given as --passwd, --acl-file or \
                         --dynsec",
                    );
                }
                _ => report.not_carried(file, record, "no Holdfast setting with this meaning"),
            }
        }
        // Mosquitto 2 refuses anonymous clients unless told otherwise.
        let anonymous = anonymous.unwrap_or_else(|| {
            report.mapped(
                file,
                "allow_anonymous (not set)",
                "Mosquitto 2 defaults to false; written as mqtt.allow_anonymous = false",
            );
            false
        });
        sink(Command::PutConfig {
            key: "mqtt.allow_anonymous".into(),
            value: anonymous.to_string(),
        })?;
        if bind.is_none() && mqtt.is_empty() {
            return Ok(None);
        }
        let mut toml = String::from("# Made by `holdfast convert mosquitto` from mosquitto.conf\n");
        if let Some(b) = bind {
            toml.push_str(&format!("[listeners.tcp]\nbind = \"{b}\"\n"));
        }
        if !mqtt.is_empty() {
            toml.push_str("[mqtt]\n");
            for (k, v) in mqtt {
                toml.push_str(&format!("{k} = {v}\n"));
            }
        }
        Ok(Some(toml))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_limits_and_anonymous_are_mapped_the_rest_reported() {
        let c = parse_text(
            "mosquitto.conf",
            "listener 1884 127.0.0.1\nlistener 8883\nallow_anonymous true\nmax_queued_messages 500\n\
             persistence true\nlog_dest stdout\n",
        );
        let mut cmds = Vec::new();
        let mut report = Report::default();
        let toml = c
            .emit(
                &mut |cmd| {
                    cmds.push(cmd);
                    Ok(())
                },
                &mut report,
            )
            .expect("emits")
            .expect("a holdfast.toml");
        let parsed: toml::Table = toml::from_str(&toml).expect("valid TOML");
        assert_eq!(
            parsed["listeners"]["tcp"]["bind"].as_str(),
            Some("127.0.0.1:1884")
        );
        assert_eq!(
            parsed["mqtt"]["queued_messages_max"].as_integer(),
            Some(500)
        );
        assert_eq!(
            cmds,
            vec![Command::PutConfig {
                key: "mqtt.allow_anonymous".into(),
                value: "true".into()
            }]
        );
        assert_eq!(report.count(crate::Outcome::NotCarried), 2, "{report:?}");
    }
}
