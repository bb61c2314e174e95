"""What deployer puts on a host for examples/hello, written for pyinfra.

The files are deployer's own (`deployer render`, in the inventory's
`rendered`): every file it renders for the host is uploaded with the mode
it has there, so both tools converge to the same content whatever deployer
renders; the release is the same source tree as a tarball
(`release_archive`, `release_id`). What reloads or restarts after which file
follows deployer's playbooks.
"""

import os

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

FILES = f"{host.data.rendered}/{host.name}"
APP_UNITS = ["hello@3000.service", "hello@3001.service", "hello-jobs@1.service"]

apt.update(name="Package lists", cache_time=3600)
apt.packages(
    name="Packages",
    packages=host.data.packages,
    no_recommends=True,
)
server.user(
    name="App user",
    user="hello",
    system=True,
    create_home=False,
    ensure_home=False,
    home="/srv/hello",
    shell="/usr/sbin/nologin",
)

for path, mode, group in [
    ("/etc/deployer", "0755", "root"),
    ("/var/lib/deployer/claims", "0755", "root"),
    ("/etc/deployer/firewall.d", "0700", "root"),
    ("/srv/hello", "0755", "root"),
    ("/srv/hello/releases", "0755", "root"),
    ("/etc/deployer/hello", "0750", "hello"),
    ("/etc/nginx/deployer", "0755", "root"),
    ("/var/lib/deployer/acme", "0755", "root"),
    ("/etc/nginx/tls", "0755", "root"),
    ("/etc/nginx/tls/hello", "0700", "root"),
    ("/usr/local/lib/deployer", "0755", "root"),
    ("/usr/local/lib/deployer/alert.d", "0700", "root"),
    ("/usr/local/lib/deployer/health.d", "0755", "root"),
    ("/etc/systemd/system/nginx.service.d", "0755", "root"),
]:
    files.directory(name=f"Directory {path}", path=path, user="root", group=group, mode=mode)
files.directory(name="Shared directory", path="/srv/hello/shared", user="hello", group="hello", mode="0750")

# The self-signed certificate, before nginx's files need it.
certificate = []
if not host.get_fact(File, path="/etc/nginx/tls/hello/fullchain.pem"):
    certificate.append(
        server.shell(
            name="TLS certificate (self-signed)",
            commands=[
                "umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90"
                " -subj /CN=hello.lab.test -addext subjectAltName=DNS:hello.lab.test"
                " -keyout /etc/nginx/tls/hello/privkey.pem -out /etc/nginx/tls/hello/fullchain.pem"
                " && chmod 0644 /etc/nginx/tls/hello/fullchain.pem",
            ],
        )
    )

# Every file deployer renders for this host, with its mode.
uploaded = {}
for directory, _, names in sorted(os.walk(FILES)):
    for name in sorted(names):
        local = os.path.join(directory, name)
        path = local[len(FILES):]
        uploaded[path] = files.put(
            name=f"Upload {path}",
            src=local,
            dest=path,
            user="root",
            group="root",
            mode=format(os.stat(local).st_mode & 0o777, "04o"),
        )


def uploads(*prefixes):
    """The uploads of the files under (or named) `prefixes`."""
    return [op for path, op in uploaded.items() if path.startswith(prefixes)]


def changed(*prefixes):
    return any_changed(*uploads(*prefixes))


systemd.daemon_reload(name="systemd reloaded", _if=changed("/etc/systemd/system/"))
systemd.service(
    name="Kernel settings applied",
    service="systemd-sysctl.service",
    restarted=True,
    _if=changed("/etc/sysctl.d/"),
)

# Firewall
table_loaded = host.get_fact(Command, "nft list table inet deployer >/dev/null 2>&1 && echo yes || echo no")
systemd.service(name="Firewall running", service="deployer-firewall.service", running=True, enabled=True)
systemd.service(
    name="Firewall restarted",
    service="deployer-firewall.service",
    restarted=True,
    _if=changed("/etc/deployer/firewall", "/etc/systemd/system/deployer-firewall.service"),
)
if table_loaded != "yes":
    # Someone flushed the ruleset by hand: load the table again.
    systemd.service(name="Firewall table reloaded", service="deployer-firewall.service", restarted=True)

# SSH
systemd.service(name="sshd reloaded", service="ssh.service", reloaded=True, _if=changed("/etc/ssh/"))

# App: the release, built as the app's user, then live.
release = f"/srv/hello/releases/{host.data.release_id}"
if not host.get_fact(File, path=f"{release}/.built"):
    upload = f"/tmp/{host.data.release_id}.tar.gz"
    files.put(name="Upload the release", src=host.data.release_archive, dest=upload)
    server.shell(
        name="Unpack and build the release",
        commands=[
            f"tar -xzf {upload} -C /srv/hello/releases",
            f"chown -R hello:hello {release}",
            f"cd {release} && runuser -u hello -- env HOME={release}/.deployer-home NODE_ENV=production npm ci --omit=dev && touch .built",
            f"rm -f {upload}",
        ],
    )
current = files.link(name="Release live", path="/srv/hello/current", target=release)
for unit in APP_UNITS:
    systemd.service(name=f"{unit} running", service=unit, running=True, enabled=True)
    systemd.service(
        name=f"{unit} restarted",
        service=unit,
        restarted=True,
        _if=any_changed(current, *uploads("/etc/deployer/hello/", "/etc/systemd/system/hello")),
    )

# nginx: a new sandbox needs a restart, the rest a reload.
systemd.service(name="nginx running", service="nginx.service", running=True, enabled=True)
systemd.service(
    name="nginx restarted",
    service="nginx.service",
    restarted=True,
    _if=changed("/etc/systemd/system/nginx.service.d/deployer-sandbox.conf"),
)
systemd.service(
    name="nginx reloaded",
    service="nginx.service",
    reloaded=True,
    _if=any_changed(*uploads("/etc/nginx/"), *certificate),
)

# Monitoring
systemd.service(name="Health timer running", service="hello-health.timer", running=True, enabled=True)
systemd.service(
    name="Health timer restarted",
    service="hello-health.timer",
    restarted=True,
    _if=changed("/etc/systemd/system/hello-health.", "/usr/local/lib/deployer/"),
)
