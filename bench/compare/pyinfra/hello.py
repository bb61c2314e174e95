"""What deployer puts on a host for examples/hello, written for pyinfra.

The files are deployer's own (`deployer render`, in the inventory's
`rendered`), so both tools converge to the same content; the release is the
same source tree as a tarball (`release_archive`, `release_id`).
"""

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

FILES = f"{host.data.rendered}/{host.name}"
APP_UNITS = ["hello@3000.service", "hello@3001.service", "hello-jobs@1.service"]


def put(path, mode="0644"):
    return files.put(
        name=f"Upload {path}",
        src=FILES + path,
        dest=path,
        user="root",
        group="root",
        mode=mode,
    )


apt.update(name="Package lists", cache_time=3600)
apt.packages(
    name="Packages",
    packages=[
        "unattended-upgrades", "nftables", "openssh-server", "nodejs", "npm",
        "nginx", "openssl", "curl", "jq",
    ],
    no_recommends=True,
)

for path in [
    "/etc/systemd/journald.conf.d/deployer.conf",
    "/etc/apt/apt.conf.d/20auto-upgrades",
    "/etc/apt/apt.conf.d/52deployer-unattended-upgrades",
]:
    put(path)

for path, mode in [
    ("/etc/deployer", "0755"),
    ("/srv/hello", "0755"),
    ("/srv/hello/releases", "0755"),
    ("/etc/nginx/deployer", "0755"),
    ("/var/lib/deployer/acme", "0755"),
    ("/etc/nginx/tls", "0755"),
    ("/etc/nginx/tls/hello", "0700"),
    ("/usr/local/lib/deployer", "0755"),
]:
    files.directory(name=f"Directory {path}", path=path, user="root", group="root", mode=mode)

# Firewall
ruleset = put("/etc/deployer/firewall.nft", mode="0600")
firewall_unit = put("/etc/systemd/system/deployer-firewall.service")
table_loaded = host.get_fact(Command, "nft list table inet deployer >/dev/null 2>&1 && echo yes || echo no")
systemd.daemon_reload(name="systemd reloaded (firewall)", _if=firewall_unit.did_change)
systemd.service(name="Firewall running", service="deployer-firewall.service", running=True, enabled=True)
systemd.service(
    name="Firewall restarted",
    service="deployer-firewall.service",
    restarted=True,
    _if=any_changed(ruleset, firewall_unit),
)
if table_loaded != "yes":
    # Someone flushed the ruleset by hand: load the table again.
    systemd.service(name="Firewall table reloaded", service="deployer-firewall.service", restarted=True)

# SSH
sshd = put("/etc/ssh/sshd_config.d/00-deployer.conf")
systemd.service(name="sshd reloaded", service="ssh.service", reloaded=True, _if=sshd.did_change)

# App
server.user(
    name="App user",
    user="hello",
    system=True,
    create_home=False,
    ensure_home=False,
    home="/srv/hello",
    shell="/usr/sbin/nologin",
)
files.directory(name="Shared directory", path="/srv/hello/shared", user="hello", group="hello", mode="0750")
files.directory(name="Config directory", path="/etc/deployer/hello", user="root", group="hello", mode="0750")
app_env = put("/etc/deployer/hello/app.env", mode="0600")
app_units = [put(f"/etc/systemd/system/{unit}") for unit in ["hello@.service", "hello-jobs@.service"]]

release = f"/srv/hello/releases/{host.data.release_id}"
shipped = []
if not host.get_fact(File, path=f"{release}/.built"):
    upload = f"/tmp/{host.data.release_id}.tar.gz"
    shipped.append(files.put(name="Upload the release", src=host.data.release_archive, dest=upload))
    shipped.append(
        server.shell(
            name="Unpack and build the release",
            commands=[
                f"tar -xzf {upload} -C /srv/hello/releases",
                f"cd {release} && NODE_ENV=production npm ci --omit=dev && touch .built",
                f"rm -f {upload}",
            ],
        )
    )
current = files.link(name="Release live", path="/srv/hello/current", target=release)
systemd.daemon_reload(name="systemd reloaded (app)", _if=any_changed(*app_units))
for unit in APP_UNITS:
    systemd.service(name=f"{unit} running", service=unit, running=True, enabled=True)
    systemd.service(
        name=f"{unit} restarted",
        service=unit,
        restarted=True,
        _if=any_changed(app_env, current, *app_units),
    )

# nginx and TLS
certificate = []
if not host.get_fact(File, path="/etc/nginx/tls/hello/fullchain.pem"):
    certificate.append(
        server.shell(
            name="TLS certificate (self-signed)",
            commands=[
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 397"
                " -subj /CN=hello.lab.test -addext subjectAltName=DNS:hello.lab.test"
                " -keyout /etc/nginx/tls/hello/privkey.pem -out /etc/nginx/tls/hello/fullchain.pem",
            ],
        )
    )
nginx_files = [
    put(path)
    for path in [
        "/etc/nginx/nginx.conf",
        "/etc/nginx/snippets/hello-headers.conf",
        "/etc/nginx/deployer/hello.conf",
    ]
]
systemd.service(name="nginx running", service="nginx.service", running=True, enabled=True)
systemd.service(
    name="nginx reloaded",
    service="nginx.service",
    reloaded=True,
    _if=any_changed(*nginx_files, *certificate),
)

# Monitoring
scripts = [put(path, mode="0755") for path in ["/usr/local/lib/deployer/alert", "/usr/local/lib/deployer/health"]]
files.directory(name="nginx drop-ins", path="/etc/systemd/system/nginx.service.d", user="root", group="root", mode="0755")
monitoring_units = [
    put(path)
    for path in [
        "/etc/systemd/system/deployer-alert@.service",
        "/etc/systemd/system/nginx.service.d/deployer-alert.conf",
        "/etc/systemd/system/deployer-health.service",
        "/etc/systemd/system/deployer-health.timer",
    ]
]
systemd.daemon_reload(name="systemd reloaded (monitoring)", _if=any_changed(*monitoring_units))
systemd.service(name="Health timer running", service="deployer-health.timer", running=True, enabled=True)
systemd.service(
    name="Health timer restarted",
    service="deployer-health.timer",
    restarted=True,
    _if=any_changed(*monitoring_units, *scripts),
)
