#!/usr/bin/env bash
# Installs generals on this host: the binary, the systemd units, the
# sysusers.d and tmpfiles.d files, the user and directories, and one or more
# nodes' config and key. Safe to run again: it never overwrites a key, and
# leaves an existing config.toml as it is.
#
#   sudo systemd/install.sh --bin target/release/generals --init node0 --id 0 --addr 10.0.0.1:7000
#   sudo systemd/install.sh --bin target/release/generals --testnet cluster/host0 --enable
#
# Run with --help for every option.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: install.sh [OPTIONS]

Installs the generals binary, generals@.service and generals.target, the
sysusers.d and tmpfiles.d files, creates the `generals` user and the
directories, and puts nodes' config and key in /etc/generals/<node>/.

Options:
  --bin PATH         the generals binary to install [default: target/release/generals
                     of this repository, else `generals` on PATH]
  --prefix DIR       the binary goes to DIR/bin [default: /usr/local]
  --root DIR         install into DIR instead of / (an image, a container, a
                     test); systemctl is then run with --root and nothing is started
  --init NODE        create /etc/generals/NODE with `generals init` (needs --id)
  --id I             the node's id, for --init
  --addr IP:PORT     the node's address, for --init [default: 127.0.0.1:7000+I]
  --testnet DIR      install every nodeI/ directory in DIR, as `generals testnet`
                     writes them (DIR is OUT with --host, or OUT/hostK with --hosts)
  --enable           enable each installed node into generals.target, and the target
  --no-user          do not create the user (it exists, e.g. from LDAP)
  -h, --help         this text

Each node's config.toml gets data_dir = "/var/lib/generals/NODE" (the unit's
StateDirectory=) and key_file = "node.key". Owners and modes:
  /etc/generals              root:generals    0750
  /etc/generals/NODE         root:generals    0750
  /etc/generals/NODE/config.toml  root:generals  0640
  /etc/generals/NODE/node.key     generals:generals 0600
  /var/lib/generals/NODE     generals:generals 0700 (the unit's StateDirectory=)
EOF
}

die() {
    echo "install.sh: error: $*" >&2
    exit 1
}
say() { echo "install.sh: $*"; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

bin="" prefix=/usr/local root="" init="" id="" addr="" testnet="" enable=0 make_user=1
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) bin=${2:?--bin needs a path}; shift ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift ;;
    --root) root=${2:?--root needs a directory}; shift ;;
    --init) init=${2:?--init needs a node name, e.g. node0}; shift ;;
    --id) id=${2:?--id needs a number}; shift ;;
    --addr) addr=${2:?--addr needs IP:PORT}; shift ;;
    --testnet) testnet=${2:?--testnet needs a directory}; shift ;;
    --enable) enable=1 ;;
    --no-user) make_user=0 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 ...): it creates a user and sets owners"
if [ -n "$init" ] && [ -z "$id" ]; then die "--init $init needs --id (the node's index in [[peers]])"; fi
if [ -n "$id" ] && [ -z "$init" ]; then die "--id is for --init NODE"; fi
if [ -n "$init" ] && [ -n "$testnet" ]; then die "give --init or --testnet, not both"; fi
if [ -n "$init" ] && ! [[ "$init" =~ ^[A-Za-z0-9_-]+$ ]]; then
    die "--init $init: a node name is letters, digits, '-' or '_' (it names generals@NODE)"
fi
if [ -n "$root" ]; then
    [ -d "$root" ] || die "--root $root is not a directory"
    root=$(cd "$root" && pwd)
    [ "$root" = / ] && root=""
fi

if [ -z "$bin" ]; then
    if [ -x "$repo/target/release/generals" ]; then
        bin="$repo/target/release/generals"
    elif command -v generals >/dev/null; then
        bin=$(command -v generals)
    else
        die "no generals binary: build one (cargo build --release --locked) or pass --bin PATH"
    fi
fi
[ -x "$bin" ] || die "--bin $bin is not an executable file"
"$bin" --version >/dev/null 2>&1 || die "$bin --version failed: is it a generals binary for this machine?"

unit_dir="$root/etc/systemd/system"
etc="$root/etc/generals"
bindir="$prefix/bin"

# Installs SRC as DEST (mode MODE) unless DEST already has the same bytes, so
# that a second run touches nothing (systemd would see changed units).
# Replaced through a rename: a running binary is never written over.
put() { # src dest mode
    if [ -f "$2" ] && cmp -s "$1" "$2"; then
        chmod "$3" "$2"
        return 0
    fi
    install -D -m "$3" "$1" "$2.new"
    mv -f "$2.new" "$2"
    changed+=("$2")
}
changed=()

# 1. The binary (a newer one replaces it: that is an upgrade) and the files
# systemd reads.
put "$bin" "$root$bindir/generals" 0755
unit=$(mktemp)
sed "s|^ExecStart=/usr/local/bin/generals |ExecStart=$bindir/generals |" "$here/generals@.service" >"$unit"
put "$unit" "$unit_dir/generals@.service" 0644
rm -f "$unit"
put "$here/generals.target" "$unit_dir/generals.target" 0644
put "$here/sysusers.d/generals.conf" "$root/usr/lib/sysusers.d/generals.conf" 0644
put "$here/tmpfiles.d/generals.conf" "$root/usr/lib/tmpfiles.d/generals.conf" 0644
put "$repo/docs/OPERATIONS.md" "$root/usr/share/doc/generals/OPERATIONS.md" 0644
say "binary: $root$bindir/generals ($("$root$bindir/generals" --version | head -n 1))"
if [ "${#changed[@]}" -gt 0 ]; then
    for f in "${changed[@]}"; do say "installed $f"; done
else
    say "the binary, units, sysusers.d and tmpfiles.d files are already up to date"
fi

# 2. The user and group.
root_opt=()
[ -n "$root" ] && root_opt=(--root="$root")
has_user() { grep -q '^generals:' "$root/etc/passwd" 2>/dev/null; }
if [ "$make_user" = 1 ] && ! has_user; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers "${root_opt[@]}" "$root/usr/lib/sysusers.d/generals.conf"
    elif command -v useradd >/dev/null; then
        useradd_root=()
        [ -n "$root" ] && useradd_root=(--root "$root")
        useradd "${useradd_root[@]}" --system --user-group --no-create-home \
            --home-dir /var/lib/generals --shell /usr/sbin/nologin \
            --comment "Byzantine generals node" generals
    else
        die "neither systemd-sysusers nor useradd is available: create a system user and group \`generals\`, then run again with --no-user"
    fi
    say "created user and group generals"
fi
has_user || die "there is no user generals in $root/etc/passwd: create it, or run without --no-user"
# Numeric ids, read from the target's files: with --root, names would be
# looked up on this host instead.
uid=$(awk -F: '$1 == "generals" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "generals" { print $3 }' "$root/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || die "user or group generals is missing from $root/etc/passwd or $root/etc/group"

# 3. Directories and modes (tmpfiles.d), for the files already there too.
apply_tmpfiles() {
    if command -v systemd-tmpfiles >/dev/null; then
        systemd-tmpfiles "${root_opt[@]}" --create "$root/usr/lib/tmpfiles.d/generals.conf"
    else
        install -d -o 0 -g "$gid" -m 0750 "$etc"
        install -d -o 0 -g 0 -m 0755 "$root/var/lib/generals"
        for d in "$etc"/*/; do
            [ -f "$d/config.toml" ] && chown "0:$gid" "$d/config.toml" && chmod 0640 "$d/config.toml"
            [ -f "$d/node.key" ] && chown "$uid:$gid" "$d/node.key" && chmod 0600 "$d/node.key"
        done
    fi
    return 0
}
apply_tmpfiles

# 4. Nodes.
installed=()

# Points data_dir at the unit's StateDirectory= and key_file at the key next
# to the config; the CLI reads the same file to find control.sock.
place_paths() { # config node
    sed -i -e "s|^data_dir = .*|data_dir = \"/var/lib/generals/$2\"|" \
        -e "s|^key_file = .*|key_file = \"node.key\"|" "$1"
    # With --root, paths the file mentions (init's comments) are the image's.
    [ -z "$root" ] || sed -i -e "s|$root/etc/generals/|/etc/generals/|g" "$1"
    grep -q "^data_dir = \"/var/lib/generals/$2\"\$" "$1" ||
        die "$1 has no top-level data_dir line to point at /var/lib/generals/$2; add data_dir = \"/var/lib/generals/$2\""
}

# The node's config directory, and its state directory as the unit's
# StateDirectory= makes it (made here too, so that `generals config check`
# run as the node's user finds data_dir writable before the first start).
node_dir() { # node
    install -d -o 0 -g "$gid" -m 0750 "$etc/$1"
    install -d -o "$uid" -g "$gid" -m 0700 "$root/var/lib/generals/$1"
}

if [ -n "$init" ]; then
    dest="$etc/$init"
    if [ -e "$dest/node.key" ] || [ -e "$dest/config.toml" ]; then
        say "$dest already holds a node (node.key or config.toml); keeping it as it is"
    else
        node_dir "$init"
        init_args=(init --home "$dest" --id "$id")
        [ -n "$addr" ] && init_args+=(--addr "$addr")
        # init's own "next:" steps are this script's, printed at the end.
        "$bin" "${init_args[@]}" | sed '/^next:/,$d'
        place_paths "$dest/config.toml" "$init"
    fi
    installed+=("$init")
fi

if [ -n "$testnet" ]; then
    [ -d "$testnet" ] || die "--testnet $testnet is not a directory"
    shopt -s nullglob
    found=0
    for src in "$testnet"/node*/; do
        src=${src%/}
        node=$(basename "$src")
        [ -f "$src/config.toml" ] && [ -f "$src/node.key" ] ||
            die "$src has no config.toml and node.key: is $testnet a directory \`generals testnet\` wrote (OUT, or OUT/hostK with --hosts)?"
        found=1
        dest="$etc/$node"
        node_dir "$node"
        if [ -e "$dest/node.key" ]; then
            cmp -s "$src/node.key" "$dest/node.key" ||
                die "$dest/node.key exists and differs from $src/node.key; refusing to overwrite a key. If $node is meant to get a new key, stop generals@$node, move $dest/node.key away and run again"
            say "$dest/node.key is already installed"
        else
            install -o "$uid" -g "$gid" -m 0600 "$src/node.key" "$dest/node.key"
        fi
        staged=$(mktemp)
        cp "$src/config.toml" "$staged"
        place_paths "$staged" "$node"
        if [ -e "$dest/config.toml" ]; then
            cmp -s "$staged" "$dest/config.toml" ||
                say "$dest/config.toml exists and differs from $src/config.toml; keeping the installed one (move it away to install the new one)"
            rm -f "$staged"
        else
            install -o 0 -g "$gid" -m 0640 "$staged" "$dest/config.toml"
            rm -f "$staged"
        fi
        installed+=("$node")
    done
    [ "$found" = 1 ] || die "no nodeI/ directories in $testnet: pass OUT (testnet --host) or OUT/hostK (testnet --hosts)"
fi
apply_tmpfiles

for node in "${installed[@]}"; do
    say "node $node: $etc/$node/config.toml, state in $root/var/lib/generals/$node"
done

[ -x "$root/bin/kill" ] ||
    say "warning: $root/bin/kill is missing, so \`systemctl reload generals@NODE\` (ExecReload=/bin/kill -HUP \$MAINPID) will fail; install the procps package"

# 5. systemd.
systemctl_cmd=(systemctl)
[ -n "$root" ] && systemctl_cmd=(systemctl --root="$root")
live=0
[ -z "$root" ] && [ -d /run/systemd/system ] && live=1
if [ "$live" = 1 ] && [ "${#changed[@]}" -gt 0 ]; then
    systemctl daemon-reload
fi
if [ "$enable" = 1 ]; then
    command -v systemctl >/dev/null || die "--enable needs systemctl"
    "${systemctl_cmd[@]}" enable generals.target
    for node in "${installed[@]}"; do
        "${systemctl_cmd[@]}" enable "generals@$node.service"
    done
fi

if [ "${#installed[@]}" -gt 0 ]; then
    first=${installed[0]}
    echo
    echo "next:"
    [ -n "$init" ] && echo "  add every other general's [[peers]] entry to $etc/$first/config.toml"
    echo "  generals config check --config /etc/generals/$first/config.toml"
    [ "$enable" = 1 ] || echo "  systemctl enable generals.target generals@$first"
    echo "  systemctl start generals.target     # or: systemctl start generals@$first"
    echo "  journalctl -u generals@$first -f"
fi
