//! The records' payloads: the tutorial's `{"number": n}`, with an id that
//! is unique to the experiment, so the read-back can tell every record of
//! this experiment from anything else in the topic.

/// The payload of record `seq`: the tutorial's `{"number": n}`, with a
/// unique id, padded to at least `min_bytes`.
pub fn payload(topic: &str, seq: u64, min_bytes: usize) -> Vec<u8> {
    let mut s = format!("{{\"number\":{seq},\"id\":\"{topic}/{seq}\"");
    if min_bytes > s.len() + 1 {
        // `,"pad":"` + pad + `"}` adds 10 bytes around the padding.
        let pad = min_bytes.saturating_sub(s.len() + 10);
        s.push_str(",\"pad\":\"");
        s.extend(std::iter::repeat_n('x', pad));
        s.push('"');
    }
    s.push('}');
    s.into_bytes()
}

/// Reads a payload back: the record's sequence number if it is one of
/// `topic`'s records.
pub fn parse_payload(topic: &str, bytes: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct P<'a> {
        number: u64,
        #[serde(borrow)]
        id: &'a str,
    }
    let p: P<'_> = serde_json::from_slice(bytes).ok()?;
    let (t, n) = p.id.rsplit_once('/')?;
    (t == topic && n.parse::<u64>().ok()? == p.number).then_some(p.number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_the_number_and_a_unique_id() {
        let p = payload("kc-run-exp", 42, 0);
        assert_eq!(
            String::from_utf8(p.clone()).unwrap(),
            r#"{"number":42,"id":"kc-run-exp/42"}"#
        );
        assert_eq!(parse_payload("kc-run-exp", &p), Some(42));
        assert_eq!(parse_payload("other-topic", &p), None);
        assert_eq!(parse_payload("kc-run-exp", b"{\"number\": 1}"), None);
        assert_eq!(parse_payload("kc-run-exp", b"garbage"), None);
    }

    #[test]
    fn payloads_are_padded_to_the_asked_size() {
        for size in [0, 10, 40, 100, 1000] {
            let p = payload("t", 7, size);
            assert!(p.len() >= size, "{size}: {}", p.len());
            assert!(p.len() <= size.max(30) + 1, "{size}: {}", p.len());
            assert_eq!(parse_payload("t", &p), Some(7));
        }
    }
}
