//! Stand-ins on this machine's lab address (198.18.0.1) for the servers lab
//! hosts talk to: an alert receiver, a Node.js download mirror, NodeSource's
//! apt repository, an ACME server and a DNS provider's API. Each stops when
//! dropped.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{must, reach, text};

/// Receives alerts on this machine's lab address, as monitoring.webhook.
pub struct Webhook {
    server: std::process::Child,
    log: TempDir,
}

impl Webhook {
    pub const URL: &str = "http://198.18.0.1:8099/alerts";

    pub fn listen() -> Webhook {
        let log = TempDir::new().unwrap();
        let receiver = r#"
import http.server, sys
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('content-length', 0)))
        with open(sys.argv[1], 'ab') as f:
            f.write(body + b'\n')
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(('198.18.0.1', 8099), Receiver).serve_forever()
"#;
        let server = serve(
            "the webhook receiver",
            8099,
            Command::new("python3")
                .args(["-c", receiver])
                .arg(log.path().join("alerts.jsonl")),
        );
        Webhook { server, log }
    }

    pub fn alerts(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.log.path().join("alerts.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// How many `event` alerts about `unit` on `host` arrived so far.
    pub fn count(&self, event: &str, host: &str, unit: &str) -> usize {
        self.alerts()
            .iter()
            .filter(|a| a["event"] == event && a["host"] == host && a["unit"] == unit)
            .count()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// This machine's Node.js, which the lab's stand-ins for Node.js sources
/// package: its version (`v20.1.0`) and major (`20`). They need a
/// self-contained node (not Debian's, which links libnode) with npm under
/// /usr/lib/node_modules, as this machine has.
pub fn local_node() -> (String, String) {
    super::require("node");
    super::require("python3");
    let version = must(
        Command::new("/usr/bin/node")
            .arg("--version")
            .output()
            .unwrap(),
        "node --version",
    )
    .trim()
    .to_string();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .unwrap()
        .to_string();
    let linked = must(
        Command::new("ldd").arg("/usr/bin/node").output().unwrap(),
        "ldd node",
    );
    assert!(
        !linked.contains("libnode") && Path::new("/usr/lib/node_modules/npm").is_dir(),
        "the lab's Node.js sources are built from this machine's /usr/bin/node and \
         /usr/lib/node_modules/npm, which must be an official-style build"
    );
    (version, major)
}

/// Runs `script` with `sh -eu` in `dir`, on this machine: its output.
pub fn sh_in(dir: &Path, script: &str) -> String {
    must(
        Command::new("sh")
            .args(["-euc", script])
            .current_dir(dir)
            .output()
            .unwrap(),
        script,
    )
}

/// A server process, stopped when dropped.
pub struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `python3 -m http.server` for `dir` on this machine's lab address.
pub fn http_server(dir: &Path, port: u16) -> Served {
    Served(serve(
        &format!("the file server on port {port}"),
        port,
        Command::new("python3")
            .args(["-m", "http.server", "--bind", "198.18.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    ))
}

/// Starts `command`, a server for this machine's lab address and `port`,
/// and waits until it listens there. A server an interrupted test run left
/// on that port would answer in its place (seen: alerts going to an old
/// receiver's log while the new one had failed to bind), so a port already
/// taken, or a server that exits, fails the test at once, saying so.
fn serve(what: &str, port: u16, command: &mut Command) -> std::process::Child {
    assert_ne!(
        reach("198.18.0.1", port),
        Some(true),
        "{what}: something already listens on 198.18.0.1:{port} (`ss -ltnp`), \
         perhaps a server left by an interrupted test run"
    );
    let mut server = super::dies_with_test(command).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while reach("198.18.0.1", port) != Some(true) {
        let exited = server.try_wait().unwrap();
        if exited.is_some() || Instant::now() >= deadline {
            let _ = server.kill();
            let _ = server.wait();
            panic!("{what} did not listen on 198.18.0.1:{port} within 20 s (exited: {exited:?})");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    server
}

/// A Node.js download mirror on this machine's lab address, in the official
/// layout (`latest-v20.x/` with SHASUMS256.txt), holding a tarball of this
/// machine's own Node.js and npm. Stopped when dropped.
pub struct NodeMirror {
    dir: TempDir,
    /// The tarball's SHASUMS256.txt line: `DIGEST  node-vX.Y.Z-linux-x64.tar.xz`.
    pub line: String,
    _server: Served,
}

impl NodeMirror {
    pub const URL: &'static str = "http://198.18.0.1:8098";

    pub fn serve() -> NodeMirror {
        let (version, major) = local_node();
        let dir = TempDir::new().unwrap();
        let name = format!("node-{version}-linux-x64");
        let line_dir = dir.path().join(format!("latest-v{major}.x"));
        let tree = dir.path().join(&name);
        fs::create_dir_all(tree.join("bin")).unwrap();
        fs::create_dir_all(tree.join("lib/node_modules")).unwrap();
        fs::create_dir_all(&line_dir).unwrap();
        let sh = |script: &str| sh_in(dir.path(), script);
        sh(&format!(
            "cp /usr/bin/node {name}/bin/node && cp -a /usr/lib/node_modules/npm {name}/lib/node_modules/ \
             && ln -s ../lib/node_modules/npm/bin/npm-cli.js {name}/bin/npm \
             && ln -s ../lib/node_modules/npm/bin/npx-cli.js {name}/bin/npx \
             && XZ_OPT=-0T2 tar -cJf latest-v{major}.x/{name}.tar.xz {name} && rm -rf {name}"
        ));
        let sum = sh(&format!("cd latest-v{major}.x && sha256sum {name}.tar.xz"));
        let line = sum.trim().to_string();
        let mirror = NodeMirror {
            _server: http_server(dir.path(), 8098),
            dir,
            line,
        };
        mirror.publish(true);
        mirror
    }

    /// Writes SHASUMS256.txt: with the tarball's real digest, or a wrong one.
    pub fn publish(&self, honest: bool) {
        let (digest, file) = self.line.split_once("  ").unwrap();
        let digest = if honest {
            digest.to_string()
        } else {
            "0".repeat(64)
        };
        let major = file.trim_start_matches("node-v").split('.').next().unwrap();
        fs::write(
            self.dir
                .path()
                .join(format!("latest-v{major}.x/SHASUMS256.txt")),
            format!(
                "{}  node-v{major}.0.0-linux-arm64.tar.xz\n{digest}  {file}\n",
                "1".repeat(64)
            ),
        )
        .unwrap();
    }
}

/// A stand-in for NodeSource's apt repository on this machine's lab address,
/// laid out as NodeSource's (`gpgkey/nodesource-repo.gpg.key`,
/// `node_<major>.x/dists/nodistro/{InRelease,Release}`,
/// `main/binary-amd64/Packages`, `pool/`), signed with a throwaway key, and
/// holding a `nodejs` package made from this machine's Node.js and npm,
/// versioned and declared as NodeSource's are (`-1nodesource1`, providing
/// and replacing `npm`). `forged/` is the same repository serving the same
/// key, but signed by another. The signing key is RSA, whose self-signatures
/// can be remade with SHA-1 ([`AptRepo::publish_key`]).
pub struct AptRepo {
    /// The throwaway keys' GNUPGHOME.
    gnupg: TempDir,
    served: TempDir,
    /// The signing key's fingerprint, and the other key's.
    pub fingerprint: String,
    pub other_fingerprint: String,
    /// The package's version, e.g. `20.1.0-1nodesource1`.
    pub version: String,
    _server: Served,
}

impl AptRepo {
    pub const URL: &'static str = "http://198.18.0.1:8097";

    pub fn serve() -> AptRepo {
        for tool in ["gpg", "gpg-agent", "dpkg-deb", "apt-ftparchive"] {
            super::require(tool);
        }
        let (node, major) = local_node();
        let version = format!("{}-1nodesource1", node.trim_start_matches('v'));
        let gnupg = TempDir::new().unwrap();
        let served = TempDir::new().unwrap();
        let home = gnupg.path().display().to_string();
        let sh = |script: &str| {
            sh_in(
                served.path(),
                &format!("export GNUPGHOME='{home}'\n{script}"),
            )
        };
        let new_key = |uid: &str, algorithm: &str| {
            sh(&format!(
                "gpg --batch --passphrase '' --quick-gen-key '{uid}' {algorithm} sign never 2>/dev/null\n\
                 gpg --with-colons --list-keys '{uid}' | awk -F: '$1 == \"fpr\" {{ print $10; exit }}'"
            ))
            .trim()
            .to_string()
        };
        let fingerprint = new_key("lab repository <repo@lab.test>", "rsa3072");
        let other_fingerprint = new_key("someone else <other@lab.test>", "ed25519");
        sh(&format!(
            r#"mkdir -p pkg/DEBIAN pkg/usr/bin pkg/usr/lib/node_modules
cp /usr/bin/node pkg/usr/bin/node
cp -a /usr/lib/node_modules/npm pkg/usr/lib/node_modules/
ln -s ../lib/node_modules/npm/bin/npm-cli.js pkg/usr/bin/npm
ln -s ../lib/node_modules/npm/bin/npx-cli.js pkg/usr/bin/npx
printf '%s\n' 'Package: nodejs' 'Version: {version}' 'Architecture: amd64' \
  'Maintainer: deployer lab <repo@lab.test>' 'Provides: nodejs-dev, nodejs-legacy, npm' \
  'Conflicts: nodejs-dev, nodejs-legacy, npm' 'Replaces: nodejs-dev, nodejs-legacy, npm' \
  'Section: web' 'Priority: optional' "Description: Node.js, packaged as NodeSource's is" >pkg/DEBIAN/control
for repo in . forged; do
  line=$repo/node_{major}.x
  mkdir -p $repo/gpgkey $line/pool/main $line/dists/nodistro/main/binary-amd64
  gpg --armor --export {fingerprint} >$repo/gpgkey/nodesource-repo.gpg.key
  dpkg-deb -Znone --root-owner-group --build pkg $line/pool/main/nodejs_{version}_amd64.deb >/dev/null
  (cd $line && apt-ftparchive packages pool >dists/nodistro/main/binary-amd64/Packages \
    && gzip -k dists/nodistro/main/binary-amd64/Packages \
    && apt-ftparchive -o APT::FTPArchive::Release::Origin=lab -o APT::FTPArchive::Release::Suite=nodistro \
       -o APT::FTPArchive::Release::Codename=nodistro -o APT::FTPArchive::Release::Components=main \
       -o APT::FTPArchive::Release::Architectures=amd64 release dists/nodistro >Release \
    && mv Release dists/nodistro/Release)
done
gpg --batch -u {fingerprint} --clearsign -o node_{major}.x/dists/nodistro/InRelease node_{major}.x/dists/nodistro/Release
gpg --batch -u {other_fingerprint} --clearsign -o forged/node_{major}.x/dists/nodistro/InRelease forged/node_{major}.x/dists/nodistro/Release
rm -rf pkg"#
        ));
        AptRepo {
            _server: http_server(served.path(), 8097),
            gnupg,
            served,
            fingerprint,
            other_fingerprint,
            version,
        }
    }
}

impl AptRepo {
    /// Serves the signing key (the same key, the same fingerprint) bound
    /// only by new self-signatures made with `digest` (`SHA1`, `SHA512`),
    /// and the repository signed anew, as a repository re-signing its key
    /// publishes (a signature counts only while its key is bound).
    pub fn publish_key(&self, digest: &str) {
        // A second later than the last: the newest self-signature counts.
        sh_in(
            self.served.path(),
            &format!(
                "export GNUPGHOME='{home}'\n\
                 sleep 1\n\
                 gpg --batch --cert-digest-algo {digest} --quick-set-expire {fpr} 0 2>/dev/null\n\
                 gpg --armor --export-options export-minimal --export {fpr} >gpgkey/nodesource-repo.gpg.key\n\
                 for line in node_*.x; do gpg --batch --yes -u {fpr} --clearsign -o $line/dists/nodistro/InRelease $line/dists/nodistro/Release 2>/dev/null; done",
                home = self.gnupg.path().display(),
                fpr = self.fingerprint,
            ),
        );
    }
}

impl Drop for AptRepo {
    /// The agent gpg started for the throwaway keys.
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.gnupg.path())
            .output();
    }
}

/// An ACME server on this machine's lab address: Pebble (Debian's package)
/// with its test DNS server saying every name is web1 (198.18.0.10).
pub struct Pebble {
    servers: Vec<std::process::Child>,
    dir: TempDir,
}

impl Pebble {
    pub const DIRECTORY: &str = "https://198.18.0.1:14000/dir";

    pub fn start() -> Pebble {
        super::require("pebble");
        let dir = TempDir::new().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        // Its own HTTPS: a self-signed certificate, also the CA dehydrated trusts.
        super::self_signed(
            &dir.path().join("key.pem"),
            &dir.path().join("cert.pem"),
            "/CN=lab ACME server",
            Some("IP:198.18.0.1"),
        );
        let config = serde_json::json!({"pebble": {
            "listenAddress": "198.18.0.1:14000",
            "managementListenAddress": "198.18.0.1:15000",
            "certificate": path("cert.pem"),
            "privateKey": path("key.pem"),
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }});
        fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let dns = serve(
            "pebble-challtestsrv",
            8055,
            Command::new("pebble-challtestsrv")
                .args(["-defaultIPv4", "198.18.0.10", "-defaultIPv6", ""])
                .args([
                    "-dns01",
                    "198.18.0.1:8053",
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                ])
                .args(["-management", "198.18.0.1:8055"])
                .stdout(Stdio::null()),
        );
        let config = path("pebble.json");
        // Held by `started` from here, so that a pebble that fails to
        // start does not leave the test DNS server running (`Drop`).
        let mut started = Pebble {
            servers: vec![dns],
            dir,
        };
        let pebble = serve(
            "pebble",
            14000,
            Command::new("pebble")
                .args(["-config", &config, "-dnsserver", "198.18.0.1:8053"])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .stdout(Stdio::null()),
        );
        started.servers.push(pebble);
        started
    }

    /// The CA file for `tls.acme_ca`: Pebble's own (self-signed) certificate.
    pub fn ca(&self) -> String {
        self.dir.path().join("cert.pem").display().to_string()
    }

    /// The root Pebble signs certificates under (it makes a new one each start).
    pub fn root(&self) -> String {
        let root = self.dir.path().join("root.pem");
        let out = Command::new("curl")
            .args(["-sf", "--cacert", &self.ca(), "-o"])
            .arg(&root)
            .arg("https://198.18.0.1:15000/roots/0")
            .output()
            .unwrap();
        assert!(out.status.success(), "pebble's root: {}", text(&out));
        root.display().to_string()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// A DNS provider's API, as lego's `httpreq` provider speaks to one: it
/// takes `POST /present` and `/cleanup` with the challenge record's name
/// and value, behind basic authentication, and sets the record in Pebble's
/// test DNS server (which Pebble asks).
pub struct DnsApi {
    server: std::process::Child,
    log: TempDir,
}

impl DnsApi {
    pub const ENDPOINT: &str = "http://198.18.0.1:8090";
    /// Where lego asks for the record: Pebble's test DNS server.
    pub const RESOLVER: &str = "198.18.0.1:8053";

    /// Needs `Pebble::start`'s test DNS server; accepts only `user` and
    /// `password`.
    pub fn start(user: &str, password: &str) -> DnsApi {
        let log = TempDir::new().unwrap();
        let api = r#"
import base64, http.server, json, sys, urllib.request
expected = 'Basic ' + base64.b64encode(sys.argv[2].encode()).decode()
class Api(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get('content-length', 0))))
        allowed = self.headers.get('authorization') == expected
        with open(sys.argv[1], 'a') as f:
            f.write(json.dumps({'path': self.path, 'fqdn': body.get('fqdn'), 'allowed': allowed}) + '\n')
        if not allowed or self.path not in ('/present', '/cleanup'):
            self.send_response(401)
            self.end_headers()
            return
        record = {'host': body['fqdn']}
        if self.path == '/present':
            record['value'] = body['value']
        target = 'set-txt' if self.path == '/present' else 'clear-txt'
        urllib.request.urlopen('http://198.18.0.1:8055/' + target, json.dumps(record).encode())
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(('198.18.0.1', 8090), Api).serve_forever()
"#;
        let server = serve(
            "the DNS provider's API",
            8090,
            Command::new("python3")
                .args(["-c", api])
                .arg(log.path().join("requests.jsonl"))
                .arg(format!("{user}:{password}")),
        );
        DnsApi { server, log }
    }

    /// The requests so far: `(path, record name, authorized)`.
    pub fn requests(&self) -> Vec<(String, String, bool)> {
        fs::read_to_string(self.log.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let r: serde_json::Value = serde_json::from_str(line).unwrap();
                (
                    r["path"].as_str().unwrap_or_default().to_string(),
                    r["fqdn"].as_str().unwrap_or_default().to_string(),
                    r["allowed"] == true,
                )
            })
            .collect()
    }
}

impl Drop for DnsApi {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
