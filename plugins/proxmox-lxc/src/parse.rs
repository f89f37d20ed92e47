//! Parsers for what pct, pveam and pvesh print (contract §4, §6, §7).

use std::collections::BTreeMap;

use nexcage_plugin_api::{BackendError, BackendResult};

/// One row of `pct list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    pub vmid: u32,
    pub status: String,
    /// Empty when the CT is not locked.
    pub lock: String,
    pub name: String,
}

/// Parses `pct list`: header `VMID Status Lock Name`, then rows split by
/// whitespace. Lock may be empty (3 fields) and names hold no whitespace.
/// Nothing at all is printed when there are no CTs.
pub fn pct_list(stdout: &str) -> BackendResult<Vec<ListRow>> {
    let mut rows = Vec::new();
    for line in stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() || f[0] == "VMID" {
            continue;
        }
        let (lock, name) = match f.len() {
            3 => ("", f[2]),
            4 => (f[2], f[3]),
            _ => return Err(unparsable("pct list", line)),
        };
        let vmid = f[0]
            .parse::<u32>()
            .map_err(|_| unparsable("pct list", line))?;
        rows.push(ListRow {
            vmid,
            status: f[1].to_owned(),
            lock: lock.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(rows)
}

/// Parses `pct status --verbose`: one `key: value` line per field.
pub fn status_verbose(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim();
            (!k.is_empty() && !k.contains(' ')).then(|| (k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Parses `pveam list <storage>`: a `NAME SIZE` header, then volids.
pub fn pveam_list(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "NAME" && v.contains(":vztmpl/"))
        .map(str::to_owned)
        .collect()
}

/// Parses `pveam available`: section, file name, optionally architecture.
pub fn pveam_available(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect()
}

/// Parses `pvesh get /cluster/nextid`: `100`, or `"100"` from some clients.
pub fn nextid(stdout: &str) -> BackendResult<u32> {
    let t = stdout.trim().trim_matches('"');
    match t.parse::<u32>() {
        Ok(n) if n >= 100 => Ok(n),
        _ => Err(unparsable("pvesh get /cluster/nextid", stdout.trim())),
    }
}

fn unparsable(what: &str, line: &str) -> BackendError {
    BackendError::failed(format!("cannot parse the output of {what}: '{line}'"))
}

/// The file name of a volid (`local:vztmpl/x.tar.zst` -> `x.tar.zst`).
pub fn volid_file(volid: &str) -> &str {
    volid.rsplit('/').next().unwrap_or(volid)
}

/// Template file extensions pve-storage accepts.
pub const TEMPLATE_EXTS: [&str; 5] = [".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"];

/// True when `s` ends in a template extension.
pub fn has_template_ext(s: &str) -> bool {
    TEMPLATE_EXTS.iter().any(|e| s.ends_with(e))
}

/// Whether template file `file` is a match for short name `short`
/// (`debian-12` matches `debian-12-standard_12.7-1_amd64.tar.zst`).
pub fn short_name_matches(short: &str, file: &str) -> bool {
    file.strip_prefix(short)
        .is_some_and(|rest| rest.starts_with(['-', '_', '.']))
}

/// Picks the newest of several matching template files: the greatest by a
/// version-aware comparison (digit runs compare numerically).
pub fn newest<'a>(files: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    files.into_iter().max_by(|a, b| version_cmp(a, b))
}

fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (trim_zeros(&a[..na]), trim_zeros(&b[..nb]));
                let o = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
                if o.is_ne() {
                    return o;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|c| **c == b'0').count();
    &d[z..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_with_lock_column() {
        let out = "VMID       Status     Lock         Name                \n\
                   100        running                 web01               \n\
                   101        stopped    backup       db                  \n\
                   1234567    stopped                 CT1234567           \n";
        let rows = pct_list(out).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            ListRow {
                vmid: 100,
                status: "running".into(),
                lock: "".into(),
                name: "web01".into()
            }
        );
        assert_eq!(rows[1].lock, "backup");
        assert_eq!(rows[1].name, "db");
        assert_eq!(rows[2].vmid, 1234567);
    }

    #[test]
    fn empty_list_prints_nothing() {
        assert!(pct_list("").unwrap().is_empty());
    }

    #[test]
    fn garbage_list_is_an_error() {
        assert!(pct_list("what is this line here\n").is_err());
    }

    #[test]
    fn status_verbose_running() {
        let out = "cpus: 2\ndisk: 0\nlock: backup\nmaxmem: 536870912\nname: web01\npid: 4242\nstatus: running\ntype: lxc\nuptime: 12\nvmid: 100\n";
        let m = status_verbose(out);
        assert_eq!(m["pid"], "4242");
        assert_eq!(m["status"], "running");
        assert_eq!(m["lock"], "backup");
        assert_eq!(m["name"], "web01");
    }

    #[test]
    fn pveam_outputs() {
        let list = "NAME                                                         SIZE  \nlocal:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst         125.10MB\n";
        assert_eq!(
            pveam_list(list),
            vec!["local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"]
        );
        assert!(
            pveam_list("NAME                                                         SIZE  \n")
                .is_empty()
        );
        let avail = "system          debian-12-standard_12.12-1_amd64.tar.zst\nsystem          alpine-3.22-default_20250617_amd64.tar.xz                    amd64\n";
        let a = pveam_available(avail);
        assert_eq!(a[0].1, "debian-12-standard_12.12-1_amd64.tar.zst");
        assert_eq!(a[1].1, "alpine-3.22-default_20250617_amd64.tar.xz");
    }

    #[test]
    fn nextid_forms() {
        assert_eq!(nextid("100\n").unwrap(), 100);
        assert_eq!(nextid("\"105\"\n").unwrap(), 105);
        assert!(nextid("50\n").is_err());
        assert!(nextid("abc").is_err());
    }

    #[test]
    fn short_names_and_newest() {
        assert!(short_name_matches(
            "debian-12",
            "debian-12-standard_12.7-1_amd64.tar.zst"
        ));
        assert!(!short_name_matches(
            "debian-1",
            "debian-12-standard_12.7-1_amd64.tar.zst"
        ));
        let files = [
            "debian-12-standard_12.7-1_amd64.tar.zst",
            "debian-12-standard_12.12-1_amd64.tar.zst",
            "debian-12-standard_12.2-1_amd64.tar.zst",
        ];
        assert_eq!(
            newest(files.iter().copied()),
            Some("debian-12-standard_12.12-1_amd64.tar.zst")
        );
    }
}
