//! The six measurements. Each sets up what it needs in its own temporary
//! directory, registers the clean-up before creating anything, measures
//! nexcage against a baseline in the same run, and returns table rows.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::rootfs::{busybox_bundle, busybox_rootfs, pack_tree};
use crate::util::{
    Bench, Cleanup, Res, Samples, alternate, check_interrupted, fmt_diff, fmt_dur, hyperfine, need,
    ratio, run, show, temp_dir, time_quiet,
};
use crate::{Opts, Row, err};

/// A TOML basic string.
fn toml_str(p: &Path) -> String {
    serde_json::Value::from(p.to_string_lossy().into_owned()).to_string()
}

fn write(path: &Path, text: &str) -> Res<()> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---- 1. load ----

/// One helper run: (wall time, the `load_library` time it printed).
fn helper_run(helper: &Path, lib: Option<&Path>) -> Res<(Duration, Duration)> {
    check_interrupted()?;
    let mut cmd = Command::new(helper);
    if let Some(l) = lib {
        cmd.arg(l);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", show(&cmd)))?;
    let wall = t.elapsed();
    if !out.status.success() {
        return err!(
            "{} failed: {}",
            show(&cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let nanos: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("{}: bad output: {e}", show(&cmd)))?;
    Ok((wall, Duration::from_nanos(nanos)))
}

/// Item 1: `load_library` of each plugin, first load in a fresh process.
pub fn load(o: &Opts) -> Res<Vec<Row>> {
    let helper = o.bin("nexcage-bench-load")?;
    let mut rows = Vec::new();
    for plugin in ["oci", "proxmox-lxc"] {
        let lib = o.bin(&nexcage::loader::plugin_file_name(plugin))?;
        for _ in 0..5 {
            helper_run(&helper, None)?;
            helper_run(&helper, Some(&lib))?;
        }
        let (mut base, mut with, mut inner) =
            (Samples::default(), Samples::default(), Samples::default());
        for i in 0..o.load_runs {
            // Alternate the order so drift hits both sides alike.
            if i % 2 == 1 {
                base.0.push(helper_run(&helper, None)?.0);
            }
            let (w, n) = helper_run(&helper, Some(&lib))?;
            with.0.push(w);
            inner.0.push(n);
            if i % 2 == 0 {
                base.0.push(helper_run(&helper, None)?.0);
            }
        }
        let m = inner.median();
        eprintln!(
            "load {plugin}: load_library median {}, helper wall {} vs {} without",
            fmt_dur(m),
            fmt_dur(with.median()),
            fmt_dur(base.median())
        );
        rows.push(Row {
            item: "load",
            figure: format!(
                "`load_library(libnexcage_{}.so)`, first load in a fresh process",
                plugin.replace('-', "_")
            ),
            runs: format!("{} alternating", inner.len()),
            baseline: format!("helper loading nothing: {}", fmt_dur(base.median())),
            subject: format!("helper loading it: {}", fmt_dur(with.median())),
            result: format!(
                "**{}** inside the process (min {}); wall {} ({:.2}×)",
                fmt_dur(m),
                fmt_dur(inner.min()),
                fmt_diff(with.median(), base.median()),
                ratio(with.median(), base.median())
            ),
            target: "< 1 ms median".into(),
            pass: Some(m < Duration::from_millis(1)),
        });
    }
    Ok(rows)
}

// ---- 2. plugins ----

/// Item 2: `nexcage plugins` with both plugins loaded vs `/bin/true`.
pub fn plugins(o: &Opts) -> Res<Vec<Row>> {
    let mut cl = Cleanup::default();
    let dir = temp_dir(&mut cl, "plugins")?;
    let nexcage = o.bin("nexcage")?;
    let cfg = dir.join("config.toml");
    write(
        &cfg,
        "# empty: built-in defaults, plugins from the build directory\n",
    )?;
    let root = dir.join("root");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v = vec![
            "--config".to_owned(),
            cfg.display().to_string(),
            "--root".to_owned(),
            root.display().to_string(),
            "plugins".to_owned(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    // Check that both plugins really load from their libraries.
    let out = run(Command::new(&nexcage).args(args(&["--format", "json"])))?;
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("plugins --format json: {e}"))?;
    for want in ["oci", "proxmox-lxc"] {
        let ok = v.as_array().is_some_and(|a| {
            a.iter().any(|p| {
                p["name"] == want && p["source"].as_str().is_some_and(|s| s.ends_with(".so"))
            })
        });
        if !ok {
            return err!("`nexcage plugins` did not load {want} from a library: {out}");
        }
    }
    let truth = need("true", "coreutils")?;
    let s = hyperfine(
        &[
            Bench::new("true", &truth, Vec::<String>::new()),
            Bench::new("nexcage plugins", &nexcage, args(&[])),
        ],
        20,
        o.hf_runs,
        &[],
        &dir,
    )?;
    let (b, n) = (s[0].median(), s[1].median());
    Ok(vec![Row {
        item: "plugins",
        figure: "start-up of `nexcage plugins`, oci + proxmox-lxc loaded".into(),
        runs: format!("{} (hyperfine)", s[1].len()),
        baseline: format!("`{}`: {}", truth.display(), fmt_dur(b)),
        subject: fmt_dur(n),
        result: format!(
            "**{}** median, {:.2}× `true` ({})",
            fmt_dur(n),
            ratio(n, b),
            fmt_diff(n, b)
        ),
        target: "< 5 ms median".into(),
        pass: Some(n < Duration::from_millis(5)),
    }])
}

// ---- 3. state ----

/// nexcage's global arguments for a config file.
fn nx(nexcage: &Path, cfg: &Path) -> Command {
    let mut c = Command::new(nexcage);
    c.arg("--config").arg(cfg);
    c
}

/// Item 3: `nexcage state` vs `runc state` of the same running container.
pub fn state(o: &Opts) -> Res<Vec<Row>> {
    let mut cl = Cleanup::default();
    let dir = temp_dir(&mut cl, "state")?;
    let nexcage = o.bin("nexcage")?;
    o.bin(&nexcage::loader::plugin_file_name("oci"))?;
    let runc = need("runc", "apt-get install -y runc")?;
    let bundle = dir.join("bundle");
    busybox_bundle(&bundle, &["sleep", "3600"])?;
    let root = dir.join("root");
    let cfg = dir.join("config.toml");
    write(
        &cfg,
        &format!(
            "[runtime]\nroot = {}\n\n[routing]\ndefault = \"oci\"\n",
            toml_str(&root)
        ),
    )?;
    // plugins/oci/README.md: runc's --root is <state_dir>/root, and the
    // host's state_dir for a backend is <root>/backends/<backend>.
    let runc_root = root.join("backends/oci/root");
    let id = format!("nexcage-bench-{}", std::process::id());
    {
        let (nexcage, cfg, runc, runc_root, id) = (
            nexcage.clone(),
            cfg.clone(),
            runc.clone(),
            runc_root.clone(),
            id.clone(),
        );
        cl.push(format!("delete container {id}"), move || {
            let a = run(nx(&nexcage, &cfg).args(["delete", "--force", &id]));
            // Whatever nexcage did, make sure runc forgets it too.
            if runc_root.is_dir() {
                let _ = Command::new(&runc)
                    .arg("--root")
                    .arg(&runc_root)
                    .args(["delete", "--force", &id])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            a.map(|_| ())
        });
    }
    // create inherits stdio for the container: give it /dev/null.
    let status = nx(&nexcage, &cfg)
        .args(["create", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("nexcage create: {e}"))?;
    if !status.success() {
        return err!("nexcage create failed ({status})");
    }
    run(nx(&nexcage, &cfg).args(["start", &id]))?;
    let runc_state = |c: &mut Command| -> Res<serde_json::Value> {
        let out = run(c)?;
        serde_json::from_str(&out).map_err(|e| format!("state json: {e}: {out}"))
    };
    let a = runc_state(
        Command::new(&runc)
            .arg("--root")
            .arg(&runc_root)
            .args(["state", &id]),
    )?;
    let b = runc_state(nx(&nexcage, &cfg).args(["state", &id]))?;
    if a["status"] != "running" || a["pid"] != b["pid"] || b["status"] != "running" {
        return err!("runc and nexcage disagree about {id}: runc {a}, nexcage {b}");
    }
    // Interleaved rather than hyperfine's one-block-then-the-other: the
    // difference is a few ms and these machines drift by more than that.
    let (rs, ns) = alternate(
        || {
            let mut c = Command::new(&runc);
            c.arg("--root").arg(&runc_root).args(["state", &id]);
            c
        },
        || {
            let mut c = nx(&nexcage, &cfg);
            c.args(["state", &id]);
            c
        },
        10,
        o.hf_runs as usize,
    )?;
    let s = [rs, ns];
    let (b, n) = (s[0].median(), s[1].median());
    let r = ratio(n, b);
    Ok(vec![Row {
        item: "state",
        figure: "`nexcage state ID` vs `runc state ID`, same running busybox container".into(),
        runs: format!("{} alternating", s[1].len()),
        baseline: format!("`runc state`: {}", fmt_dur(b)),
        subject: fmt_dur(n),
        result: format!("**{r:.3}×** ({})", fmt_diff(n, b)),
        target: "≤ 1.10×".into(),
        pass: Some(r <= 1.10),
    }])
}

// ---- 4. podman ----

/// Where nexcage keeps state when no config says otherwise.
const DEFAULT_ROOT: &str = nexcage::config::DEFAULT_ROOT;

/// What a podman container left in nexcage's default root, if anything.
fn nexcage_leftovers(id: &str) -> Vec<PathBuf> {
    let root = Path::new(DEFAULT_ROOT);
    [
        root.join("owners").join(format!("{id}.json")),
        root.join("backends/oci/root").join(id),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect()
}

/// Container ids from the `--cidfile`s in `dir` whose name starts with
/// `prefix`.
fn cids(dir: &Path, prefix: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    v.sort();
    v
}

/// Item 4: `podman run --rm IMAGE true` with nexcage (oci → runc) as the
/// runtime vs with runc directly.
///
/// podman 4.3 passes `--runtime-flag`s to create/start/kill/state, but
/// conmon's exit command (`podman container cleanup`) runs the final
/// `delete --force ID` with neither the flags nor our environment. So the
/// nexcage config must not move the state root: then that bare `delete`
/// finds the owner record in the default root and reaches runc through the
/// plugin and settings recorded at create. (With `root = <tmp>` the delete
/// silently missed, runc's state leaked and nexcage looked *faster* than
/// runc.) Every nexcage container is checked for leftovers afterwards.
pub fn podman(o: &Opts) -> Res<Vec<Row>> {
    let mut cl = Cleanup::default();
    let dir = temp_dir(&mut cl, "podman")?;
    let nexcage = o.bin("nexcage")?;
    o.bin(&nexcage::loader::plugin_file_name("oci"))?;
    let podman = need("podman", "apt-get install -y podman")?;
    let runc = need("runc", "apt-get install -y runc")?;
    let tar = need("tar", "GNU tar")?;

    let rootfs = dir.join("bbroot");
    busybox_rootfs(&rootfs)?;
    let image_tar = dir.join("bb.tar");
    run(Command::new(&tar)
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&image_tar)
        .arg("."))?;

    let nx_cfg = dir.join("nexcage.toml");
    write(
        &nx_cfg,
        "# The state root stays the default: podman's cleanup calls `delete` without --config.\n\
         [routing]\ndefault = \"oci\"\n",
    )?;
    let storage_conf = dir.join("storage.conf");
    write(
        &storage_conf,
        &format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = {}\nrunroot = {}\n",
            toml_str(&dir.join("graph")),
            toml_str(&dir.join("run"))
        ),
    )?;
    // /work/shared/reference/oci-clients.md §4. podman finds runtime
    // features by the binary's basename, so nexcage is listed with runc.
    let containers_conf = dir.join("containers.conf");
    write(
        &containers_conf,
        &format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\nnetns = \"none\"\n\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = {}\n\
             tmp_dir = {}\nruntime = \"runc\"\nruntime_supports_json = [\"runc\", \"nexcage\"]\n\n\
             [engine.runtimes]\nrunc = [{}]\nnexcage = [{}]\n",
            toml_str(&dir.join("events.log")),
            toml_str(&dir.join("libpod-tmp")),
            toml_str(&runc),
            toml_str(&nexcage)
        ),
    )?;
    let pm = |runtime: &str| -> Command {
        let mut c = Command::new(&podman);
        c.env("CONTAINERS_CONF", &containers_conf)
            .env("CONTAINERS_STORAGE_CONF", &storage_conf)
            .arg("--runtime")
            .arg(runtime);
        if runtime == "nexcage" {
            // podman passes it on as `--config=<file>` (see above).
            c.arg(format!("--runtime-flag=config={}", nx_cfg.display()));
        }
        c
    };
    {
        let mut c = pm("runc");
        cl.push("podman rm --all --force", move || {
            run(c.args(["rm", "--all", "--force"])).map(|_| ())
        });
    }
    let root_existed = Path::new(DEFAULT_ROOT).exists();
    {
        // Runs before `podman rm` (reverse order): anything a nexcage
        // container left in the default root goes, and so does the root
        // itself if this run made it and nothing else is in it.
        let (dir, nexcage, runc) = (dir.clone(), nexcage.clone(), runc.clone());
        cl.push(format!("nexcage containers in {DEFAULT_ROOT}"), move || {
            for id in cids(&dir, "cid-nexcage-") {
                if nexcage_leftovers(&id).is_empty() {
                    continue;
                }
                let _ = run(Command::new(&nexcage).args(["delete", "--force", &id]));
                let _ = run(Command::new(&runc)
                    .arg("--root")
                    .arg(Path::new(DEFAULT_ROOT).join("backends/oci/root"))
                    .args(["delete", "--force", &id]));
                let _ = fs::remove_file(
                    Path::new(DEFAULT_ROOT)
                        .join("owners")
                        .join(format!("{id}.json")),
                );
            }
            if !root_existed {
                let owners = fs::read_dir(Path::new(DEFAULT_ROOT).join("owners"))
                    .map(|d| {
                        d.filter_map(|e| e.ok())
                            .filter(|e| e.file_name() != ".lock")
                            .count()
                    })
                    .unwrap_or(0);
                if owners == 0 {
                    crate::util::remove_tree(Path::new(DEFAULT_ROOT))?;
                }
            }
            Ok(())
        });
    }
    let image = "localhost/nexcage-bench-bb:latest";
    run(pm("runc").arg("import").arg(&image_tar).arg(image))?;
    let mut seq = 0u32;
    let mut podman_run = |rt: &str, cmd: &[&str]| -> Command {
        seq += 1;
        let mut c = pm(rt);
        c.args(["run", "--rm", "--cidfile"])
            .arg(dir.join(format!("cid-{rt}-{seq:03}")))
            .arg(image)
            .args(cmd);
        c
    };
    for rt in ["runc", "nexcage"] {
        let out = run(&mut podman_run(rt, &["echo", "nexcage-bench-ok"]))?;
        if out.trim() != "nexcage-bench-ok" {
            return err!("podman --runtime {rt}: unexpected output {out:?}");
        }
    }
    let check_clean = || -> Res<()> {
        for id in cids(&dir, "cid-nexcage-") {
            let left = nexcage_leftovers(&id);
            if !left.is_empty() {
                return err!(
                    "podman --runtime nexcage left container {id} behind ({left:?}): its delete did not reach runc"
                );
            }
        }
        Ok(())
    };
    check_clean()?;
    for _ in 0..2 {
        time_quiet(&mut podman_run("runc", &["true"]))?;
        time_quiet(&mut podman_run("nexcage", &["true"]))?;
    }
    let (mut rs, mut ns) = (Samples::default(), Samples::default());
    for i in 0..o.podman_runs {
        if i % 2 == 0 {
            rs.0.push(time_quiet(&mut podman_run("runc", &["true"]))?);
            ns.0.push(time_quiet(&mut podman_run("nexcage", &["true"]))?);
        } else {
            ns.0.push(time_quiet(&mut podman_run("nexcage", &["true"]))?);
            rs.0.push(time_quiet(&mut podman_run("runc", &["true"]))?);
        }
        eprintln!(
            "podman run {}: runc {:.1} ms, nexcage {:.1} ms",
            i + 1,
            ms(rs.0[i]),
            ms(ns.0[i])
        );
    }
    check_clean()?;
    let (b, n) = (rs.median(), ns.median());
    let r = ratio(n, b);
    Ok(vec![Row {
        item: "podman",
        figure: "`podman run --rm IMAGE true`, runtime nexcage (oci → runc) vs runc".into(),
        runs: format!("{} alternating", ns.len()),
        baseline: format!("podman + runc: {}", fmt_dur(b)),
        subject: fmt_dur(n),
        result: format!("**{r:.3}×** ({})", fmt_diff(n, b)),
        target: "≤ 1.05×".into(),
        pass: Some(r <= 1.05),
    }])
}

// ---- 5. list ----

/// Item 5: `nexcage list --format json` over the pct double with many
/// containers vs the one `pct list` it runs.
pub fn list(o: &Opts) -> Res<Vec<Row>> {
    let mut cl = Cleanup::default();
    let dir = temp_dir(&mut cl, "list")?;
    let nexcage = o.bin("nexcage")?;
    o.bin(&nexcage::loader::plugin_file_name("proxmox-lxc"))?;
    let (pct, pveam, pvesh, mktemplate) = (
        o.bin("pct")?,
        o.bin("pveam")?,
        o.bin("pvesh")?,
        o.bin("pve-double-mktemplate")?,
    );
    let pve = dir.join("pve");
    let env = |c: &mut Command| {
        c.env("PVE_DOUBLE_ROOT", &pve);
    };
    let mut c = Command::new(&mktemplate);
    env(&mut c);
    run(c.arg(&pve))?;
    let cache = pve.join("var/lib/vz/template/cache");
    let template = fs::read_dir(&cache)
        .map_err(|e| format!("{}: {e}", cache.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".tar.gz"))
        .ok_or("pve-double-mktemplate made no template")?;
    // One real `pct create`; the others copy its config the way the
    // double stores them (one file per CT under etc/pve/nodes/<node>/lxc).
    let first: u32 = 100;
    {
        let (pct, pve) = (pct.clone(), pve.clone());
        cl.push("pct destroy 100", move || {
            run(Command::new(&pct)
                .env("PVE_DOUBLE_ROOT", &pve)
                .args(["destroy", "100", "--purge"]))
            .map(|_| ())
        });
    }
    let mut c = Command::new(&pct);
    env(&mut c);
    run(c.args([
        "create",
        "100",
        &format!("local:vztmpl/{template}"),
        "--rootfs",
        "local-lvm:1",
        "--hostname",
        "bench-100",
    ]))?;
    let conf_dir = pve.join("etc/pve/nodes/pve/lxc");
    let proto = fs::read_to_string(conf_dir.join("100.conf"))
        .map_err(|e| format!("{}: {e}", conf_dir.join("100.conf").display()))?;
    let t = Instant::now();
    for vmid in first + 1..first + o.list_count {
        let text = proto
            .replace("vm-100-disk", &format!("vm-{vmid}-disk"))
            .replace("bench-100", &format!("bench-{vmid}"));
        write(&conf_dir.join(format!("{vmid}.conf")), &text)?;
    }
    eprintln!(
        "wrote {} CT configs in {}",
        o.list_count - 1,
        fmt_dur(t.elapsed())
    );
    let mut c = Command::new(&pct);
    env(&mut c);
    let rows = run(c.arg("list"))?.lines().count().saturating_sub(1);
    if rows != o.list_count as usize {
        return err!("pct list shows {rows} CTs, expected {}", o.list_count);
    }
    let cfg = dir.join("config.toml");
    write(
        &cfg,
        &format!(
            "[runtime]\nroot = {}\n\n[routing]\ndefault = \"proxmox-lxc\"\n\n\
             [backends.proxmox-lxc]\npct = {}\npveam = {}\npvesh = {}\nnode = \"pve\"\ntemplate_dir = {}\n",
            toml_str(&dir.join("nexcage-root")),
            toml_str(&pct),
            toml_str(&pveam),
            toml_str(&pvesh),
            toml_str(&cache)
        ),
    )?;
    let nargs = [
        "--config".to_owned(),
        cfg.display().to_string(),
        "list".to_owned(),
        "--format".to_owned(),
        "json".to_owned(),
    ];
    let mut c = Command::new(&nexcage);
    env(&mut c);
    let out = run(c.args(&nargs))?;
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("nexcage list json: {e}"))?;
    let n = v.as_array().map_or(0, Vec::len);
    if n != o.list_count as usize {
        return err!(
            "nexcage list shows {n} containers, expected {}",
            o.list_count
        );
    }
    let runs = (o.hf_runs as usize / 2).max(10);
    let (ps, ns) = alternate(
        || {
            let mut c = Command::new(&pct);
            c.env("PVE_DOUBLE_ROOT", &pve).arg("list");
            c
        },
        || {
            let mut c = Command::new(&nexcage);
            c.env("PVE_DOUBLE_ROOT", &pve).args(&nargs);
            c
        },
        3,
        runs,
    )?;
    let s = [ps, ns];
    let (b, n) = (s[0].median(), s[1].median());
    let r = ratio(n, b);
    Ok(vec![Row {
        item: "list",
        figure: format!(
            "`nexcage list --format json` (proxmox-lxc) with {} CTs in the pct double vs its one `pct list`",
            o.list_count
        ),
        runs: format!("{} alternating", s[1].len()),
        baseline: format!("`pct list`: {}", fmt_dur(b)),
        subject: fmt_dur(n),
        result: format!("**{r:.3}×** (nexcage adds {})", fmt_diff(n, b)),
        target: "≤ 1.10×".into(),
        pass: Some(r <= 1.10),
    }])
}

// ---- 6. pack ----

fn file_size(p: &Path) -> u64 {
    fs::metadata(p).map_or(0, |m| m.len())
}

/// Times one `pack_cached` into a fresh cache directory; removes it after.
fn pack_once(tree: &Path, cache: &Path) -> Res<(Duration, u64)> {
    check_interrupted()?;
    let t = Instant::now();
    let p = nexcage_proxmox_lxc::pack::pack_cached(tree, cache)
        .map_err(|e| format!("pack_cached: {e:?}"))?;
    let took = t.elapsed();
    if p.cache_hit {
        return err!("pack_cached hit a cache that should be empty");
    }
    let size = file_size(&p.path);
    crate::util::remove_tree(cache)?;
    Ok((took, size))
}

/// Item 6: the proxmox-lxc packer vs `tar -c` on the same tree.
pub fn pack(o: &Opts) -> Res<Vec<Row>> {
    let mut cl = Cleanup::default();
    let dir = temp_dir(&mut cl, "pack")?;
    let tar = need("tar", "GNU tar")?;
    let tree = dir.join("tree");
    let t = Instant::now();
    let st = pack_tree(&tree, o.pack_mb * 1_000_000)?;
    eprintln!(
        "tree: {:.1} MB in {} files, {} hard links, {} symlinks, {} dirs (made in {})",
        st.bytes as f64 / 1e6,
        st.files,
        st.hard_links,
        st.symlinks,
        st.dirs,
        fmt_dur(t.elapsed())
    );
    let out_tar = dir.join("out.tar");
    let tar_once = || -> Res<(Duration, Duration, u64)> {
        let took = time_quiet(
            Command::new(&tar)
                .arg("-c")
                .arg("-f")
                .arg(&out_tar)
                .arg("-C")
                .arg(&tree)
                .arg("."),
        )?;
        // Not part of the baseline: what an fsync of tar's output costs,
        // to compare with the packer, which syncs its file.
        let f = fs::File::open(&out_tar).map_err(|e| e.to_string())?;
        let t = Instant::now();
        f.sync_all().map_err(|e| e.to_string())?;
        let sync = t.elapsed();
        let size = file_size(&out_tar);
        fs::remove_file(&out_tar).map_err(|e| e.to_string())?;
        Ok((took, sync, size))
    };
    // Warm the page cache for both.
    tar_once()?;
    pack_once(&tree, &dir.join("cache-warm"))?;
    let (mut ps, mut ts, mut syncs) = (Samples::default(), Samples::default(), Samples::default());
    let (mut pack_size, mut tar_size) = (0, 0);
    for i in 0..o.pack_runs {
        let cache = dir.join(format!("cache-{i}"));
        let mut do_pack = |ps: &mut Samples| -> Res<()> {
            let (d, size) = pack_once(&tree, &cache)?;
            ps.0.push(d);
            pack_size = size;
            Ok(())
        };
        if i % 2 == 0 {
            do_pack(&mut ps)?;
        }
        let (d, s, size) = tar_once()?;
        ts.0.push(d);
        syncs.0.push(s);
        tar_size = size;
        if i % 2 == 1 {
            do_pack(&mut ps)?;
        }
        eprintln!(
            "pack run {}: pack_cached {:.0} ms, tar {:.0} ms",
            i + 1,
            ms(ps.0[i]),
            ms(ts.0[i])
        );
    }
    // A cache hit is a stat-only walk of the tree (the metadata index).
    let hit_cache = dir.join("cache-hit");
    nexcage_proxmox_lxc::pack::pack_cached(&tree, &hit_cache)
        .map_err(|e| format!("pack_cached: {e:?}"))?;
    let mut hits = Samples::default();
    for _ in 0..o.pack_runs {
        check_interrupted()?;
        let t = Instant::now();
        let p = nexcage_proxmox_lxc::pack::pack_cached(&tree, &hit_cache)
            .map_err(|e| format!("pack_cached: {e:?}"))?;
        hits.0.push(t.elapsed());
        if !p.cache_hit {
            return err!("second pack_cached of an unchanged tree missed the cache");
        }
    }
    let mbps = |d: Duration| st.bytes as f64 / 1e6 / d.as_secs_f64();
    let (p, t) = (ps.median(), ts.median());
    let r = mbps(p) / mbps(t);
    let pass1 = hits.median();
    Ok(vec![
        Row {
            item: "pack",
            figure: format!(
                "pack a {:.0} MB bundle rootfs ({} files, {} hard links, {} symlinks) with `pack::pack_cached`, empty cache",
                st.bytes as f64 / 1e6,
                st.files,
                st.hard_links,
                st.symlinks
            ),
            runs: format!("{} alternating", ps.len()),
            baseline: format!(
                "`tar -c -f out.tar -C tree .`: {} = {:.0} MB/s",
                fmt_dur(t),
                mbps(t)
            ),
            subject: format!("{} = {:.0} MB/s", fmt_dur(p), mbps(p)),
            result: format!("**{r:.2}×** tar's throughput"),
            target: "≥ 0.8×".into(),
            pass: Some(r >= 0.8),
        },
        Row {
            item: "pack",
            figure: "the same, both durable: the packer (which fsyncs before naming its file) vs tar + an fsync of its output".into(),
            runs: format!("{} alternating", ps.len()),
            baseline: format!(
                "tar {} + fsync {} = {}",
                fmt_dur(t),
                fmt_dur(syncs.median()),
                fmt_dur(t + syncs.median())
            ),
            subject: format!("{} (archive {:.1} MB vs tar's {:.1} MB)", fmt_dur(p), pack_size as f64 / 1e6, tar_size as f64 / 1e6),
            result: format!("**{:.2}×** tar's durable throughput", (t + syncs.median()).as_secs_f64() / p.as_secs_f64()),
            target: "(context)".into(),
            pass: None,
        },
        Row {
            item: "pack",
            figure: "second create from the unchanged bundle (metadata-index cache hit, no file content read)".into(),
            runs: format!("{} each", hits.len()),
            baseline: format!("tar: {}", fmt_dur(t)),
            subject: fmt_dur(pass1),
            result: format!("**{:.1}×** faster than tar", t.as_secs_f64() / pass1.as_secs_f64()),
            target: "—".into(),
            pass: None,
        },
    ])
}
