//! MQTT 5.0 PUBLISH properties as Mosquitto stores them after a message or a client message:
//! a variable-byte-integer length, then the properties (MQTT 5.0 §2.2.2).

/// The properties of a stored message that Holdfast keeps.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Props {
    pub payload_utf8: bool,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub user_properties: Vec<(String, String)>,
    pub sub_ids: Vec<u32>,
    pub expiry_secs: Option<u32>,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| format!("property of {n} bytes runs past the end"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn varint(&mut self) -> Result<u32, String> {
        let mut v: u32 = 0;
        for i in 0..4 {
            let b = self.u8()?;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("variable byte integer longer than 4 bytes".into())
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = usize::from(self.u16()?);
        Ok(self.take(n)?.to_vec())
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?).map_err(|_| "property string is not UTF-8".to_string())
    }
}

/// Parse a whole property block (length prefix included); it must fill `b` exactly.
pub(crate) fn parse(b: &[u8]) -> Result<Props, String> {
    let mut p = Props::default();
    if b.is_empty() {
        return Ok(p);
    }
    let mut r = Reader { b, at: 0 };
    let len = r.varint()? as usize;
    if r.at + len != b.len() {
        return Err(format!(
            "properties say {len} bytes, {} are there",
            b.len() - r.at
        ));
    }
    while r.at < b.len() {
        match r.varint()? {
            0x01 => p.payload_utf8 = r.u8()? == 1,
            0x02 => p.expiry_secs = Some(r.u32()?),
            0x03 => p.content_type = Some(r.string()?),
            0x08 => p.response_topic = Some(r.string()?),
            0x09 => p.correlation_data = Some(r.bytes()?),
            0x0B => p.sub_ids.push(r.varint()?),
            0x23 => {
                r.u16()?;
            }
            0x26 => {
                let k = r.string()?;
                let v = r.string()?;
                p.user_properties.push((k, v));
            }
            other => return Err(format!("property 0x{other:02x} is not a PUBLISH property")),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_properties_parse_and_bad_ones_are_refused() {
        let body = [
            0x01, 1, 0x03, 0, 1, b't', 0x26, 0, 1, b'k', 0, 1, b'v', 0x0B, 0x81, 0x01,
        ];
        let mut b = vec![body.len() as u8];
        b.extend_from_slice(&body);
        let p = parse(&b).expect("parses");
        assert!(p.payload_utf8);
        assert_eq!(p.content_type.as_deref(), Some("t"));
        assert_eq!(p.user_properties, vec![("k".into(), "v".into())]);
        assert_eq!(p.sub_ids, vec![129]);
        assert!(parse(&[5, 0x03, 0, 9]).is_err(), "length past the end");
        assert!(parse(&[2, 0x11, 0]).is_err(), "not a PUBLISH property");
        assert!(parse(&[3, 0x03, 0, 1]).is_err(), "string past the end");
        assert!(
            parse(&[0xff, 0xff, 0xff, 0xff, 0x7f]).is_err(),
            "varint too long"
        );
    }
}
