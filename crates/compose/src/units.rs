//! The small value languages inside compose files: Go-style durations, byte
//! sizes, the short port syntax and the short volume syntax.

use std::time::Duration;

/// Parses a Go-style duration (`1h2m3.5s`, `100ms`, `10us`), or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "h" => 3600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" | "μs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        total += n * scale;
    }
    (total.is_finite() && total < u64::MAX as f64)
        .then(|| Duration::from_nanos(total.round() as u64))
}

/// Formats a duration as Go's `time.Duration.String()` does (`1m30s`, `500ms`, `2m0s`),
/// which is how `docker compose config` prints them.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_fraction(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_fraction(ns, 1_000_000));
    }
    let hours = ns / 3_600_000_000_000;
    let minutes = (ns / 60_000_000_000) % 60;
    let secs_ns = ns % 60_000_000_000;
    let secs = trim_fraction(secs_ns, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

fn trim_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let frac = format!("{frac:0width$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Parses a byte size as Docker does (`512`, `50M`, `1.5g`, `2kb`, `1GiB`), powers of 1024.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n: f64 = s[..split].parse().ok()?;
    let unit = s[split..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64)
}

/// One published port in long syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Host address, if given.
    pub host_ip: Option<String>,
    /// Container port.
    pub target: u16,
    /// Host port or range, if given.
    pub published: Option<String>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// Parses the short port syntax (`80`, `8080:80`, `127.0.0.1:8080:80/udp`,
/// `8000-8001:80-81`, `[::1]:80:80`, `127.0.0.1::80`) into one entry per container port.
pub fn parse_port(s: &str) -> Result<Vec<PortSpec>, String> {
    let (spec, protocol) = match s.rsplit_once('/') {
        Some((a, p)) => (a, p.to_ascii_lowercase()),
        None => (s, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!(
            "unknown protocol `{protocol}` (use tcp, udp or sctp)"
        ));
    }
    // Split from the right: the container part has no colon; an IPv6 host is bracketed.
    let (host_ip, published, target) = if let Some(rest) = spec.strip_prefix('[') {
        let (ip, rest) = rest
            .split_once(']')
            .ok_or("unclosed `[` in an IPv6 address")?;
        let rest = rest
            .strip_prefix(':')
            .ok_or("expected `:` after the IPv6 address")?;
        let (p, t) = rest
            .split_once(':')
            .ok_or("expected HOST_PORT:CONTAINER_PORT after the address")?;
        (Some(ip.to_string()), Some(p), t)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            [t] => (None, None, *t),
            [p, t] => (None, Some(*p), *t),
            [ip, p, t] => (Some((*ip).to_string()), Some(*p), *t),
            _ => {
                // An unbracketed IPv6 host: everything before the last two colons.
                let n = parts.len();
                (
                    Some(parts[..n - 2].join(":")),
                    Some(parts[n - 2]),
                    parts[n - 1],
                )
            }
        }
    };
    let published = published.filter(|p| !p.is_empty());
    let (t_lo, t_hi) = parse_range(target)?;
    let mut out = Vec::new();
    let pub_range = match published {
        Some(p) => Some(parse_range(p)?),
        None => None,
    };
    let count = t_hi - t_lo + 1;
    for i in 0..count {
        let target = t_lo + i;
        let published = match pub_range {
            None => None,
            Some((lo, hi)) if lo == hi => Some(lo.to_string()),
            Some((lo, hi)) if hi - lo + 1 == count => Some((lo + i).to_string()),
            Some((lo, hi)) if count == 1 => Some(format!("{lo}-{hi}")),
            Some(_) => {
                return Err(format!(
                    "port ranges don't match in `{s}`: as many host ports as container ports"
                ))
            }
        };
        out.push(PortSpec {
            host_ip: host_ip.clone(),
            target,
            published,
            protocol: protocol.clone(),
        });
    }
    Ok(out)
}

/// Parses `80` or `8000-8010` into an inclusive range of valid ports.
pub fn parse_range(s: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| -> Result<u16, String> {
        match p.trim().parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            Ok(0) => Err("port 0 is not a port: use 1-65535".into()),
            Ok(n) => Err(format!("port {n} is out of range 1-65535")),
            Err(_) => Err(format!("`{p}` is not a port number")),
        }
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (port(a)?, port(b)?);
            if lo > hi {
                return Err(format!(
                    "invalid port range {s}: the start is above the end"
                ));
            }
            Ok((lo, hi))
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

/// A volume in long syntax, parsed from the short one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// `bind` or `volume`.
    pub kind: &'static str,
    /// Host path or volume name; `None` for an anonymous volume.
    pub source: Option<String>,
    /// Path in the container.
    pub target: String,
    /// `:ro`.
    pub read_only: bool,
    /// `z`/`Z`.
    pub selinux: Option<String>,
    /// `shared`, `rslave`, … for binds.
    pub propagation: Option<String>,
    /// `nocopy` for volumes.
    pub nocopy: bool,
}

/// Parses `SOURCE:TARGET[:MODE]` or a lone `TARGET` (compose-spec `05-services.md#short-syntax-5`).
pub fn parse_volume(s: &str) -> Result<VolumeSpec, String> {
    let parts = split_volume(s);
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, t.clone(), None),
        [src, t] => (Some(src.clone()), t.clone(), None),
        [src, t, m] => (Some(src.clone()), t.clone(), Some(m.clone())),
        _ => {
            return Err(format!(
                "`{s}` has too many `:`; the form is SOURCE:TARGET[:MODE]"
            ))
        }
    };
    if target.is_empty() {
        return Err(format!("`{s}` has no container path"));
    }
    let mut spec = VolumeSpec {
        kind: "volume",
        source: None,
        target,
        read_only: false,
        selinux: None,
        propagation: None,
        nocopy: false,
    };
    if let Some(src) = source.filter(|s| !s.is_empty()) {
        if is_path_like(&src) {
            spec.kind = "bind";
        }
        spec.source = Some(src);
    }
    for opt in mode
        .iter()
        .flat_map(|m| m.split(','))
        .filter(|o| !o.is_empty())
    {
        match opt {
            "ro" => spec.read_only = true,
            "rw" => spec.read_only = false,
            "z" | "Z" => spec.selinux = Some(opt.to_string()),
            "nocopy" => spec.nocopy = true,
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => spec.propagation = Some(opt.to_string()),
            "cached" | "delegated" | "consistent" => {}
            other => return Err(format!("unknown volume option `{other}` in `{s}` (ro, rw, z, Z, nocopy, or a propagation mode)")),
        }
    }
    Ok(spec)
}

/// True when a volume source names a host path rather than a named volume.
pub fn is_path_like(s: &str) -> bool {
    s.starts_with('.')
        || s.starts_with('/')
        || s.starts_with('~')
        || s.starts_with('$')
        || (s.len() >= 2 && s.as_bytes()[1] == b':' && s.as_bytes()[0].is_ascii_alphabetic())
}

fn split_volume(s: &str) -> Vec<String> {
    // A Windows drive letter (`C:\x`) is not a separator.
    let mut parts = Vec::new();
    let mut cur = String::new();
    let b = s.as_bytes();
    for (i, c) in s.char_indices() {
        let drive = c == ':'
            && cur.len() == 1
            && cur.as_bytes()[0].is_ascii_alphabetic()
            && b.get(i + 1) == Some(&b'\\');
        if c == ':' && !drive {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_as_go_prints_them() {
        let d = |s: &str| parse_duration(s).map(format_duration);
        assert_eq!(d("10s").as_deref(), Some("10s"));
        assert_eq!(d("90s").as_deref(), Some("1m30s"));
        assert_eq!(d("120s").as_deref(), Some("2m0s"));
        assert_eq!(d("1h").as_deref(), Some("1h0m0s"));
        assert_eq!(d("1.5s").as_deref(), Some("1.5s"));
        assert_eq!(d("500ms").as_deref(), Some("500ms"));
        assert_eq!(d("1m30s").as_deref(), Some("1m30s"));
        assert_eq!(d("5").as_deref(), Some("5s"));
        assert_eq!(d("10x"), None);
        assert_eq!(d(""), None);
    }

    #[test]
    fn sizes_are_powers_of_1024() {
        assert_eq!(parse_size("50M"), Some(52_428_800));
        assert_eq!(parse_size("20m"), Some(20_971_520));
        assert_eq!(parse_size("1gb"), Some(1 << 30));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn short_port_syntax() {
        let p = |s: &str| parse_port(s).expect(s);
        assert_eq!(
            p("80")[0],
            PortSpec {
                host_ip: None,
                target: 80,
                published: None,
                protocol: "tcp".into()
            }
        );
        assert_eq!(p("8080:80")[0].published.as_deref(), Some("8080"));
        let x = &p("127.0.0.1:8080:80/udp")[0];
        assert_eq!(
            (x.host_ip.as_deref(), x.protocol.as_str()),
            (Some("127.0.0.1"), "udp")
        );
        let r = p("8000-8001:80-81");
        assert_eq!(r.len(), 2);
        assert_eq!((r[1].target, r[1].published.as_deref()), (81, Some("8001")));
        assert_eq!(
            p("9090-9091:8080")[0].published.as_deref(),
            Some("9090-9091")
        );
        assert_eq!(p("127.0.0.1::80")[0].published, None);
        assert_eq!(p("[::1]:80:80")[0].host_ip.as_deref(), Some("::1"));
        assert_eq!(p("3000-3002").len(), 3);
        assert!(parse_port("80-70").is_err());
        assert!(parse_port("70000").is_err());
        assert!(parse_port("8000-8002:80-81").is_err());
        assert!(parse_port("80/xyz").is_err());
    }

    #[test]
    fn short_volume_syntax() {
        let v = parse_volume("./data:/data:ro").expect("ok");
        assert_eq!(
            (v.kind, v.source.as_deref(), v.target.as_str(), v.read_only),
            ("bind", Some("./data"), "/data", true)
        );
        let v = parse_volume("db:/var/lib/db").expect("ok");
        assert_eq!((v.kind, v.source.as_deref()), ("volume", Some("db")));
        let v = parse_volume("/data").expect("ok");
        assert_eq!((v.kind, v.source), ("volume", None));
        let v = parse_volume("C:\\x:/data").expect("ok");
        assert_eq!(v.source.as_deref(), Some("C:\\x"));
        assert!(parse_volume("a:b:c:d").is_err());
        assert!(parse_volume("a:/b:bogus").is_err());
    }
}
