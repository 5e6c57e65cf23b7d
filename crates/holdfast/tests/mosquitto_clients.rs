//! The quick tour with the Debian `mosquitto_pub` / `mosquitto_sub` command-line clients,
//! over MQTT 3.1.1 and 5.0. Message lines are `TOPIC|QOS|RETAIN|PAYLOAD`.

mod common;

use common::Broker;
use common::clients::QUIET;
use common::clients::mosq::{Sub, publish, subscribe_until_done};

const V311: &str = "mqttv311";
const V5: &str = "mqttv5";

fn pub_sub_at_each_qos(version: &str) {
    let b = Broker::start();
    let sub_id = format!("tour-qos-sub-{version}");
    let pub_id = format!("tour-qos-pub-{version}");
    let sub = Sub::start(
        b.port,
        &["-V", version, "-i", &sub_id, "-q", "2", "-t", "tour/#"],
    );
    for qos in ["0", "1", "2"] {
        let topic = format!("tour/q{qos}");
        let msg = format!("hello at qos {qos}");
        publish(
            b.port,
            &[
                "-V", version, "-i", &pub_id, "-q", qos, "-t", &topic, "-m", &msg,
            ],
        );
        assert_eq!(sub.expect_message(), format!("{topic}|{qos}|0|{msg}"));
    }
    assert_eq!(sub.message(QUIET), None, "one copy of each");
}

#[test]
fn pub_sub_at_qos_0_1_2_v311() {
    pub_sub_at_each_qos(V311);
}

#[test]
fn pub_sub_at_qos_0_1_2_v5() {
    pub_sub_at_each_qos(V5);
}

fn retained_and_deleted(version: &str) {
    let b = Broker::start();
    let pub_id = format!("tour-ret-pub-{version}");
    let sub_id = format!("tour-ret-sub-{version}");
    publish(
        b.port,
        &[
            "-V",
            version,
            "-i",
            &pub_id,
            "-q",
            "1",
            "-r",
            "-t",
            "tour/temp",
            "-m",
            "21.5",
        ],
    );
    let got = subscribe_until_done(
        b.port,
        &[
            "-V", version, "-i", &sub_id, "-t", "tour/#", "-C", "1", "-W", "5",
        ],
    );
    assert_eq!(got, vec!["tour/temp|0|1|21.5".to_string()]);

    // `-r -n`: an empty retained message deletes it.
    publish(
        b.port,
        &[
            "-V",
            version,
            "-i",
            &pub_id,
            "-q",
            "1",
            "-r",
            "-n",
            "-t",
            "tour/temp",
        ],
    );
    let got = subscribe_until_done(
        b.port,
        &["-V", version, "-i", &sub_id, "-t", "tour/#", "-W", "1"],
    );
    assert_eq!(got, Vec::<String>::new(), "retained message deleted");
}

#[test]
fn retained_message_and_delete_v311() {
    retained_and_deleted(V311);
}

#[test]
fn retained_message_and_delete_v5() {
    retained_and_deleted(V5);
}

fn persistent_subscriber(version: &str) {
    let b = Broker::start();
    let id = format!("tour-persist-{version}");
    let pub_id = format!("tour-persist-pub-{version}");
    let sub_args = [
        "-V",
        version,
        "-c",
        "-i",
        &id,
        "-q",
        "1",
        "-t",
        "tour/persist",
    ];

    // Subscribe, then go away (-E: exit once subscribed).
    let got = subscribe_until_done(b.port, &[&sub_args[..], &["-E"]].concat());
    assert!(got.is_empty(), "{got:?}");

    for m in ["first", "second"] {
        publish(
            b.port,
            &[
                "-V",
                version,
                "-i",
                &pub_id,
                "-q",
                "1",
                "-t",
                "tour/persist",
                "-m",
                m,
            ],
        );
    }

    // Back with the same id: the messages published while away are delivered.
    let got = subscribe_until_done(b.port, &[&sub_args[..], &["-C", "2", "-W", "5"]].concat());
    assert_eq!(
        got,
        vec![
            "tour/persist|1|0|first".to_string(),
            "tour/persist|1|0|second".to_string()
        ]
    );
}

#[test]
fn persistent_subscriber_gets_messages_published_while_away_v311() {
    persistent_subscriber(V311);
}

#[test]
fn persistent_subscriber_gets_messages_published_while_away_v5() {
    persistent_subscriber(V5);
}
