//! Golden tests of parsing, output formats and error placement. They need
//! root (pct refuses otherwise) but no running container.

mod common;
use common::Node;

const USAGE_CREATE: &str = "pct create <vmid> <ostemplate> [OPTIONS]\n";

#[test]
fn root_env_is_required() {
    let o = std::process::Command::new(common::bin("pct"))
        .arg("list")
        .env_remove("PVE_DOUBLE_ROOT")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&o.stderr).contains("PVE_DOUBLE_ROOT is not set"));
}

#[test]
fn layout_and_symlink() {
    let n = Node::new();
    let r = n.run("pct", &["list"]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    let link = std::fs::read_link(n.root().join("etc/pve/lxc")).unwrap();
    assert_eq!(link, std::path::Path::new("nodes/pve/lxc"));
}

#[test]
fn list_padding_and_lock_column() {
    let n = Node::new();
    n.template();
    n.create("101", &["--hostname", "db"]);
    n.create("100", &["--hostname", "web01"]);
    let conf = n.conf_path("101");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("lock: backup\n{text}")).unwrap();
    let r = n.run("pct", &["list"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        "VMID       Status     Lock         Name                \n\
         100        stopped                 web01               \n\
         101        stopped    backup       db                  \n"
    );
    // locked CT
    let r = n.run("pct", &["start", "101"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "CT is locked (backup)\n")
    );
    let r = n.run("pct", &["destroy", "101"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "CT is locked (backup)\n")
    );
    let r = n.run("pct", &["set", "101", "--memory", "256"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "CT is locked (backup)\n")
    );
    assert_eq!(n.run("pct", &["unlock", "101"]).code, 0);
    assert!(!std::fs::read_to_string(&conf).unwrap().contains("lock:"));
}

#[test]
fn parameter_verification_block() {
    let n = Node::new();
    let r = n.run("pct", &["create", "50", "local:vztmpl/x.tar.gz"]);
    assert_eq!(r.code, 255);
    assert_eq!(
        r.stderr,
        format!(
            "400 Parameter verification failed.\n\
             vmid: invalid format - value does not look like a valid VM ID\n\
             \n{USAGE_CREATE}"
        )
    );
    let r = n.run("pct", &["create", "abc", "local:vztmpl/x.tar.gz"]);
    assert_eq!(
        r.stderr,
        format!(
            "400 Parameter verification failed.\n\
             vmid: type check ('integer') failed - got 'abc'\n{USAGE_CREATE}"
        )
    );
    let r = n.run(
        "pct",
        &[
            "create",
            "100",
            "local:vztmpl/x.tar.gz",
            "--hostname",
            "a_b",
            "--memory",
            "8",
        ],
    );
    assert_eq!(
        r.stderr,
        format!(
            "400 Parameter verification failed.\n\
             hostname: invalid format - value does not look like a valid DNS name\n\
             \n\
             memory: value must have a minimum value of 16\n{USAGE_CREATE}"
        )
    );
    let r = n.run(
        "pct",
        &[
            "create",
            "100",
            "local:vztmpl/x.tar.gz",
            "--net0",
            "bridge=vmbr0",
        ],
    );
    assert_eq!(
        r.stderr,
        format!(
            "400 Parameter verification failed.\n\
             net0: invalid format - format error\n\
             net0.name: property is missing and it is not optional\n\
             \n{USAGE_CREATE}"
        )
    );
    let r = n.run(
        "pct",
        &[
            "create",
            "100",
            "local:vztmpl/x.tar.gz",
            "--ostype",
            "win",
            "--net0",
            "=x",
        ],
    );
    assert_eq!(
        r.stderr,
        format!(
            "400 Parameter verification failed.\n\
             net0: invalid format - missing key in comma-separated list property\n\
             \n\
             ostype: value 'win' does not have a value in the enumeration 'debian, devuan, ubuntu, centos, fedora, opensuse, archlinux, alpine, gentoo, nixos, unmanaged'\n\
             {USAGE_CREATE}"
        )
    );
}

#[test]
fn default_install_pitfall_and_storage_errors() {
    let n = Node::new();
    let tpl = n.template();
    let r = n.run("pct", &["create", "100", &tpl]);
    assert_eq!(r.code, 255);
    assert_eq!(
        r.stderr,
        format!(
            "400 Parameter verification failed.\n\
             storage: storage 'local' does not support container directories\n{USAGE_CREATE}"
        )
    );
    assert_eq!(r.stdout, "");
    let r = n.run("pct", &["create", "100", &tpl, "--rootfs", "nope:1"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "storage 'nope' does not exist\n")
    );
    let r = n.run("pct", &["create", "100", "other:vztmpl/x.tar.gz"]);
    assert_eq!(r.stderr, "storage 'other' does not exist\n");
    let r = n.run("pct", &["create", "100", "garbage"]);
    assert_eq!(r.stderr, "unable to parse volume ID 'garbage'\n");
    let r = n.run("pct", &["create", "100", "local:foo/bar"]);
    assert_eq!(
        r.stderr,
        "unable to parse directory volume name 'foo/bar'\n"
    );
    // nothing was left behind
    assert!(!n.conf_path("100").exists());
}

#[test]
fn option_forms() {
    let n = Node::new();
    n.template();
    // options before the positionals, -opt and --opt=value forms
    let tpl = pct_double::default_volid();
    let r = n.run(
        "pct",
        &[
            "create",
            "-hostname",
            "h1",
            "--memory=256",
            "100",
            &tpl,
            "-rootfs=local-lvm:1",
            "--unprivileged",
            "0",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("extracting archive '"));
    let r = n.run("pct", &["conf", "100"]);
    assert_eq!(
        r.stdout,
        "arch: amd64\nhostname: h1\nmemory: 256\nostype: unmanaged\nrootfs: local-lvm:vm-100-disk-0,size=1G\nswap: 512\nunprivileged: 0\n"
    );
    // booleans: bare, =value, yes/no; auto-abbreviation
    assert_eq!(n.run("pct", &["set", "100", "--onboot"]).code, 0);
    assert_eq!(
        n.run(
            "pct",
            &["set", "100", "--protection=yes", "--desc", "a:b\nc"]
        )
        .code,
        0
    );
    let r = n.run("pct", &["config", "100"]);
    assert!(r.stdout.contains("onboot: 1\n"), "{}", r.stdout);
    assert!(r.stdout.contains("protection: 1\n"));
    assert!(r.stdout.contains("description: a%3Ab%0Ac\n"));
    let r = n.run("pct", &["destroy", "100"]);
    assert_eq!(r.stderr, "can't remove CT 100 - protection mode enabled\n");
    let r = n.run("pct", &["set", "100", "--protection", "maybe"]);
    assert_eq!(
        r.stderr,
        "400 unable to parse boolean option\npct set <vmid> [OPTIONS]\n"
    );
    assert_eq!(n.run("pct", &["set", "100", "--protection", "off"]).code, 0);
    // tags and net normalisation
    assert_eq!(
        n.run(
            "pct",
            &[
                "set",
                "100",
                "--tags",
                "B;a,b",
                "--net0",
                "name=eth0,bridge=vmbr0"
            ]
        )
        .code,
        0
    );
    let r = n.run("pct", &["config", "100"]);
    assert!(r.stdout.contains("tags: a;b\n"), "{}", r.stdout);
    let net = r.stdout.lines().find(|l| l.starts_with("net0: ")).unwrap();
    assert!(
        net.starts_with("net0: bridge=vmbr0,hwaddr=BC:24:11:"),
        "{net}"
    );
    assert!(net.ends_with(",name=eth0,type=veth"), "{net}");
    // set errors
    let r = n.run("pct", &["set", "100"]);
    assert_eq!(r.stderr, "no options specified\n");
    let r = n.run("pct", &["set", "100", "--unprivileged", "1"]);
    assert_eq!(
        r.stderr,
        "unable to modify read-only option: 'unprivileged'\n"
    );
    let r = n.run("pct", &["set", "100", "--delete", "memory"]);
    assert_eq!(r.stderr, "unable to delete required option 'memory'\n");
    assert_eq!(
        n.run("pct", &["set", "100", "--delete", "tags,onboot"])
            .code,
        0
    );
    let r = n.run("pct", &["config", "100"]);
    assert!(!r.stdout.contains("tags:") && !r.stdout.contains("onboot:"));
}

#[test]
fn getopt_errors() {
    let n = Node::new();
    let r = n.run("pct", &["start", "100", "--bogus"]);
    assert_eq!(r.code, 255);
    assert_eq!(
        r.stderr,
        "Unknown option: bogus\n400 unable to parse option\npct start <vmid> [OPTIONS]\n"
    );
    let r = n.run("pct", &["exec", "100", "ls", "-la"]);
    assert_eq!(
        r.stderr,
        "Unknown option: la\n400 unable to parse option\npct exec <vmid> [<extra-args>] [OPTIONS]\n"
    );
    let r = n.run("pveam", &["list"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "400 not enough arguments\npveam list <storage>\n")
    );
    let r = n.run("pct", &["set", "100", "101"]);
    assert_eq!(
        r.stderr,
        "400 too many arguments\npct set <vmid> [OPTIONS]\n"
    );
    let r = n.run("pct", &["create", "100"]);
    assert_eq!(
        r.stderr,
        format!("400 not enough arguments\n{USAGE_CREATE}")
    );
    let r = n.run("pct", &["set", "100", "--memory"]);
    assert_eq!(
        r.stderr,
        "Option memory requires an argument\n400 unable to parse option\npct set <vmid> [OPTIONS]\n"
    );
    // `--force 100` eats the vmid
    let r = n.run("pct", &["destroy", "--force", "100"]);
    assert_eq!(
        r.stderr,
        "400 not enough arguments\npct destroy <vmid> [OPTIONS]\n"
    );
}

#[test]
fn command_expansion_and_unknown_command() {
    let n = Node::new();
    let r = n.run("pct", &["stat", "100"]);
    assert_eq!(
        r.stderr,
        "Configuration file 'nodes/pve/lxc/100.conf' does not exist\n"
    );
    for bad in ["sta", "li", "foo"] {
        let r = n.run("pct", &[bad]);
        assert_eq!(r.code, 255);
        assert!(
            r.stderr.starts_with(&format!(
                "ERROR: unknown command 'pct {bad}'\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]\n"
            )),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains("\n       pct create <vmid> <ostemplate> [OPTIONS]\n")
        );
        assert_eq!(r.stdout, "");
    }
    let r = n.run("pct", &[]);
    assert!(
        r.stderr
            .starts_with("ERROR: no command specified\nUSAGE: pct <COMMAND>")
    );
    let r = n.run("pveam", &["av"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
}

#[test]
fn missing_ct_messages() {
    let n = Node::new();
    let missing = "Configuration file 'nodes/pve/lxc/999.conf' does not exist\n";
    for args in [
        &["status", "999"][..],
        &["config", "999"],
        &["destroy", "999"],
        &["set", "999", "--memory", "64"],
        &["exec", "999", "--", "true"],
        &["start", "999"],
    ] {
        let r = n.run("pct", args);
        assert_eq!((r.code, r.stderr.as_str()), (255, missing), "{args:?}");
    }
    for args in [
        &["stop", "999"][..],
        &["shutdown", "999"],
        &["suspend", "999"],
    ] {
        let r = n.run("pct", args);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (255, "CT 999 not running\n"),
            "{args:?}"
        );
    }
}

#[test]
fn create_existing_missing_template_and_nextid() {
    let n = Node::new();
    let tpl = n.template();
    assert_eq!(n.run("pvesh", &["get", "/cluster/nextid"]).stdout, "100\n");
    n.create("100", &[]);
    let r = n.run("pct", &["create", "100", &tpl, "--rootfs", "local-lvm:1"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (255, "CT 100 already exists on node 'pve'\n")
    );
    let r = n.run(
        "pvesh",
        &["get", "/cluster/nextid", "--output-format", "json"],
    );
    assert_eq!(r.stdout, "101\n");
    let r = n.run("pvesh", &["get", "/cluster/nextid", "--vmid", "100"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            255,
            "400 Parameter verification failed.\nvmid: VM 100 already exists\n"
        )
    );
    assert_eq!(
        n.run("pvesh", &["get", "cluster/nextid", "--vmid", "555"])
            .stdout,
        "555\n"
    );

    // template missing on a valid storage: in-task failure, cleaned up
    let r = n.run(
        "pct",
        &[
            "create",
            "102",
            "local:vztmpl/nope.tar.gz",
            "--rootfs",
            "local-lvm:1",
        ],
    );
    assert_eq!(r.code, 255);
    assert_eq!(
        r.stderr,
        "unable to create CT 102 - can't find file 'local:vztmpl/nope.tar.gz'\n"
    );
    assert!(
        r.stdout
            .contains("can't find file 'local:vztmpl/nope.tar.gz'\n")
    );
    assert!(!n.conf_path("102").exists());
    assert!(!n.root().join("var/lib/vz-lvm/vm-102-disk-0").exists());

    // another client takes the id between nextid and create
    let r = n.run_env(
        "pvesh",
        &["get", "/cluster/nextid"],
        &[("PVE_DOUBLE_TAKE_NEXT", "1")],
    );
    assert_eq!(r.stdout, "101\n");
    let r = n.run("pct", &["create", "101", &tpl, "--rootfs", "local-lvm:1"]);
    assert_eq!(r.stderr, "CT 101 already exists on node 'pve'\n");
    assert_eq!(n.run("pvesh", &["get", "/cluster/nextid"]).stdout, "102\n");
    let r = n.run("pvesh", &["get", "/nodes"]);
    assert_eq!(r.stderr, "No 'get' handler defined for '/nodes'\n");
}

#[test]
fn concurrent_creates_of_one_vmid() {
    let n = Node::new();
    let tpl = n.template();
    let children: Vec<_> = (0..4)
        .map(|_| {
            n.cmd("pct")
                .args(["create", "300", &tpl, "--rootfs", "local-lvm:1"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1);
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert!(String::from_utf8_lossy(&o.stderr).contains("already exists on node 'pve'"));
    }
    let conf = std::fs::read_to_string(n.conf_path("300")).unwrap();
    assert!(
        conf.contains("rootfs: local-lvm:vm-300-disk-0,size=1G\n"),
        "{conf}"
    );
}

#[test]
fn calls_log_and_fault_knobs() {
    let n = Node::new();
    n.run("pct", &["list"]);
    n.run("pvesh", &["get", "/cluster/nextid"]);
    let r = n.run_env(
        "pct",
        &["list"],
        &[("PVE_DOUBLE_FAIL", "pct:list=boom happened")],
    );
    assert_eq!((r.code, r.stderr.as_str()), (255, "boom happened\n"));
    let r = n.run_env(
        "pveam",
        &["list", "local"],
        &[("PVE_DOUBLE_FAIL", "pct:list=x")],
    );
    assert_eq!(r.code, 0);
    let log = std::fs::read_to_string(n.root().join("calls.log")).unwrap();
    assert_eq!(
        log,
        "pct list\npvesh get /cluster/nextid\npct list\npveam list local\n"
    );
    let mut child = n
        .cmd("pct")
        .arg("list")
        .env("PVE_DOUBLE_HANG", "pct:list")
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "hung command exited");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn pveam_commands() {
    let n = Node::new();
    let r = n.run("pveam", &["list", "local"]);
    assert_eq!(r.stdout, format!("{:<60} {:<6}\n", "NAME", "SIZE"));
    n.template();
    let name = pct_double::TEMPLATE_NAME;
    let r = n.run("pveam", &["available", "--section", "system"]);
    assert_eq!(r.stdout, format!("system          {name}\n"));
    let r = n.run("pveam", &["list", "local"]);
    let line = r.stdout.lines().nth(1).unwrap().to_string();
    assert!(line.starts_with(&format!("{:<60} ", format!("local:vztmpl/{name}"))));
    assert!(line.ends_with("MB"));
    let r = n.run("pveam", &["list", "local-lvm"]);
    assert_eq!(r.stderr, "Storage does not support templates!\n");
    let r = n.run("pveam", &["list", "nope"]);
    assert_eq!(r.stderr, "storage 'nope' does not exist\n");
    let r = n.run("pveam", &["download", "local", "nope.tar.gz"]);
    assert_eq!(
        r.stderr,
        "400 Parameter verification failed.\ntemplate: no such template\npveam download <storage> <template>\n"
    );
    let r = n.run("pveam", &["download", "local", name]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            0,
            "calculating checksum of existing file...OK, got correct file already, no need to download\n"
        )
    );
    assert_eq!(
        n.run("pveam", &["remove", &format!("local:vztmpl/{name}")])
            .code,
        0
    );
    let r = n.run("pveam", &["download", "local", name]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .contains("calculating checksum...OK, checksum verified\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("finished\n"));
    assert!(
        n.root()
            .join("var/lib/vz/template/cache")
            .join(name)
            .exists()
    );
}
