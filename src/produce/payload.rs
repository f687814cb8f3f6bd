//! The records' payloads: the tutorial's `{"number": n}`, with an id that
//! is unique to the experiment, so the read-back can tell every record of
//! this experiment from anything else in the topic.

/// The payload of record `seq`: the tutorial's `{"number": n}`, with a
/// unique id, padded to at least `min_bytes`.
pub fn payload(topic: &str, seq: u64, min_bytes: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    write_payload(&mut buf, topic, seq, min_bytes);
    buf
}

/// Writes [`payload`]'s bytes into `buf` (cleared first), so that a send
/// loop reuses one buffer: no allocation and no `format!` per record.
pub fn write_payload(buf: &mut Vec<u8>, topic: &str, seq: u64, min_bytes: usize) {
    let mut digits = itoa::Buffer::new();
    let n = digits.format(seq).as_bytes();
    buf.clear();
    buf.extend_from_slice(b"{\"number\":");
    buf.extend_from_slice(n);
    buf.extend_from_slice(b",\"id\":\"");
    buf.extend_from_slice(topic.as_bytes());
    buf.push(b'/');
    buf.extend_from_slice(n);
    buf.push(b'"');
    if min_bytes > buf.len() + 1 {
        // `,"pad":"` + pad + `"}` adds 10 bytes around the padding.
        let pad = min_bytes.saturating_sub(buf.len() + 10);
        buf.extend_from_slice(b",\"pad\":\"");
        buf.resize(buf.len() + pad, b'x');
        buf.push(b'"');
    }
    buf.push(b'}');
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

    #[test]
    fn a_reused_buffer_holds_exactly_one_payload() {
        // The template the writer replaced, kept here as the reference.
        fn formatted(topic: &str, seq: u64, min_bytes: usize) -> Vec<u8> {
            let mut s = format!("{{\"number\":{seq},\"id\":\"{topic}/{seq}\"");
            if min_bytes > s.len() + 1 {
                let pad = min_bytes.saturating_sub(s.len() + 10);
                s.push_str(",\"pad\":\"");
                s.extend(std::iter::repeat_n('x', pad));
                s.push('"');
            }
            s.push('}');
            s.into_bytes()
        }
        let mut buf = Vec::new();
        for (seq, size) in [
            (123_456_789, 100),
            (0, 0),
            (7, 100),
            (99_999, 30),
            (5, 1000),
        ] {
            write_payload(&mut buf, "kc-t", seq, size);
            assert_eq!(buf, formatted("kc-t", seq, size), "{seq} {size}");
            assert_eq!(parse_payload("kc-t", &buf), Some(seq));
        }
    }
}
