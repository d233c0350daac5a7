namespace Stageproof.Core.Configuration;

/// <summary>The commented stageproof.yaml that <c>stageproof init</c> writes.</summary>
public static class ConfigTemplate
{
    /// <summary>An example for the lab: production with two app hosts and a database host, staging mirroring it.</summary>
    public const string Example = """
        # stageproof.yaml: what Stageproof manages and how it proves patches.
        # Relative paths below are resolved against the folder of this file.
        # Every problem is reported with its line, column and key; run any verb to check the file.

        # Hosts: the machines Stageproof reaches. The name is how you refer to the host everywhere else
        # (letters, digits, '.', '_' and '-'; at most 63 characters).
        hosts:
          prod-app-1:
            transport: ssh                 # ssh (the default), local (this machine) or chroot (a root directory here)
            address: 127.0.10.11           # IP address or DNS name; required for ssh
            port: 2222                     # ssh port; default 22
            user: root                     # login user; default root
            identity: keys/lab_ed25519     # private key file
            known_hosts: keys/known_hosts  # host keys Stageproof trusts; unknown or changed keys are refused
            role: app                      # pairs hosts across environments: staging's app hosts with prod's
          prod-app-2:
            address: 127.0.10.12
            port: 2222
            identity: keys/lab_ed25519
            known_hosts: keys/known_hosts
            role: app
          prod-db-1:
            address: 127.0.10.21
            port: 2222
            user: deploy
            become: sudo                   # run commands through sudo; the only method supported
            identity: keys/lab_ed25519
            known_hosts: keys/known_hosts
            role: db
          stage-app-1:
            address: 127.0.30.11
            port: 2222
            identity: keys/lab_ed25519
            known_hosts: keys/known_hosts
            role: app
          stage-db-1:
            address: 127.0.30.21
            port: 2222
            user: deploy
            become: sudo
            identity: keys/lab_ed25519
            known_hosts: keys/known_hosts
            role: db
          # builder:
          #   transport: chroot
          #   root: /srv/roots/builder     # chroot only, and required there

        # Groups: names for sets of hosts, usable wherever a host name is. Members may be other groups.
        groups:
          prod-app: [prod-app-1, prod-app-2]

        # An Ansible inventory (INI or YAML) can supply hosts and groups too. ansible_host, ansible_port,
        # ansible_user, ansible_ssh_private_key_file, ansible_become and a 'role' variable are read.
        # Hosts and groups written here win over the inventory's.
        # inventory: inventory/hosts.ini

        # Environments: named sets of hosts, their databases and the check suite that validates them.
        environments:
          prod:
            hosts: [prod-app, prod-db-1]   # host or group names; groups are expanded in order
            databases:                     # name -> PostgreSQL (Npgsql) connection string, or { engine, connection }
              mail: "Host=127.0.10.5;Port=5432;Database=mail;Username=acme"
              # shop: { engine: mariadb, connection: "Server=127.0.10.6;Port=3306;Database=shop;User ID=acme" }  # or mysql
            checks: mail-suite             # a suite under checks: below
          staging:
            hosts: [stage-app-1, stage-db-1]
            mirror_of: prod                # staging must prove it mirrors prod before it proves a patch
            # control: staging-twin        # twins left on the old version during a stage and loaded in the same seconds:
                                           # latency is judged against them (paired in order; same number of hosts)
            databases:
              mail: "Host=127.0.30.5;Port=5432;Database=mail;Username=acme"
            checks: mail-suite

        # Drift: what is compared between environments and how close they must be.
        drift:
          track:                           # configuration files whose content is compared; absolute paths, globs allowed
            - /etc/acme-mail/*.conf
            - /etc/ssh/sshd_config
          ignore:                          # "category:pattern", pattern a glob; categories: package, file, service, port,
                                           # setting, schema, migration, os, host, database, upgrade
            - "file:/etc/hostname"
            - "package:linux-image-*"
          formats:                         # how a tracked file is read to compare its values (ini, shell, sshd, systemd,
                                           # yaml, json, nginx, bytes); without a rule, by its name (*.conf ini, ...)
            /etc/ssh/sshd_config: sshd
          min_fidelity: 0.98               # staging must match its mirror at least this well (0..1)
          fail_on: high                    # a difference this severe fails drift whatever the figure (none|info|low|medium|high)
          max_content_bytes: 65536         # larger tracked files keep only their digest
          secret_keys:                     # regular expressions matching a key's last words (DB_PASSWORD, not
                                           # PasswordAuthentication); their values are masked in stored content
            - pass(word|wd|phrase)?        # a word of the key: DB_PASS, keystorePass (not bypass)
            - \w*passw(or)?d               # also glued to a prefix: PGPASSWORD
            - pwd
            - (bind|root)pw                # LDAP
            - credentials?
            - secret
            - client[_.-]?secret
            - token
            - auth[_.-]?token
            - authtok                      # sssd
            - (api|access|secret|private|auth|app|encryption|signing|master|preshared|validation|decryption|nonce|logged[_-]?in)[_.-]?key
            - salt
            - requirepass                  # redis
            - masterauth

        # SSH: how hosts are contacted.
        ssh:
          parallelism: 16                  # hosts contacted at once (1..256)
          connect_timeout: 10              # seconds (or 10s, 1m)
          command_timeout: 120             # seconds a single command may run
          keep_open: 60                    # seconds the server keeps an idle host connection for the next verb (0: close)

        # Checks: the suites that validate an environment before and after a patch. Every check has a name and a type;
        # http, tcp, auth and load checks run against each host of the environment (its address, the port given here)
        # unless they give a url; role: limits a host check to the hosts of that role. Durations: 30, 30s, 2m, 500ms.
        # timeout: (default 10s) bounds one attempt.
        checks:
          mail-suite:
            - name: health                 # http: status, body text or regex, JSON assertions, latency bound
              type: http
              role: app                    # only on the environment's app hosts (not the db hosts)
              port: 8080
              path: /health
              expect_status: 200
              expect_json: ['$.status == "ok"']
              max_latency: 500ms
            - name: listening              # tcp: the port accepts a connection
              type: tcp
              role: app
              port: 8080
            - name: config-present         # command: run on each host (a list of words, never shell text)
              type: command
              role: app
              run: [test, -f, /etc/acme-mail/acme-mail.conf]
              expect_exit: 0
            - name: service                # service: running (systemd, else the SysV init script's status)
              type: service
              role: app
              service: acme-mail
            - name: login                  # auth: a scripted request sequence; ${user}, ${password} and extracted values
              type: auth
              role: app
              port: 8080
              credentials: { file: secrets/acme-mail.env }   # lines user=password, mode 0600; or { env: VARIABLE }
              steps:
                - { method: POST, path: /login, json: { user: "${user}", password: "${password}" }, extract: { token: $.token } }
                - { path: "/mailbox/${user}", headers: { Authorization: "Bearer ${token}" } }
            - name: mail-load              # load: N clients for a duration or an iteration count; keeps every sample
              type: load
              role: app
              port: 8080
              clients: 16
              duration: 20s
              auth: login                  # each iteration logs in first (the auth check above)
              requests:
                - { path: "/search?q=invoice", headers: { Authorization: "Bearer ${token}" } }
              max_error_rate: 0.0
              compare: { max_p95_ratio: 1.5, max_added_error_rate: 0.01 }   # stage gate: after vs baseline
            - name: log-errors             # logs: only lines written since the marker taken before the run
              type: logs
              role: app
              file: /var/log/acme-mail/acme-mail.log
              fail: [" ERROR ", " FATAL "]
              warn: [" WARN "]
            - name: users                  # sql: a query and its expected first value (or expect_rows)
              type: sql
              database: mail
              query: SELECT count(*) FROM users
              expect: "50"
            - name: schema                 # schema: fingerprint equal to prod's; migration history complete
              type: schema
              database: mail
              same_as: prod
            - name: integrity              # db-integrity: pg_amcheck on tables and btree indexes, invariant queries
              type: db-integrity
              database: mail
              install_missing: true        # let pg_amcheck create the amcheck extension when missing
              invariants:
                orphan-messages: SELECT m.id FROM messages m LEFT JOIN users u ON u.id = m.owner_id WHERE u.id IS NULL
            - name: soak                   # soak: named checks repeated every interval for a duration
              type: soak
              checks: [health, login]
              duration: 60s
              interval: 5s
            - name: directory-login        # ldap: bind as each account and search (add clients + duration for a load)
              type: ldap
              role: app
              port: 389
              bind_dn: "uid=${user},ou=people,dc=acme,dc=test"   # ${user} DN-escaped
              credentials: { file: secrets/acme-mail.env }       # the same user=password lines; never a password here
              base: "ou=people,dc=acme,dc=test"
              filter: "(uid=${user})"                            # ${user} filter-escaped

        # Lifecycle: the order patches are promoted in, the gate before each stage and how a rollout walks it.
        # A set reaches a stage only as the exact digest that PASSed the stage before; durations: 30s, 5m, 4h, 7d.
        # Roles: viewer, operator, approver, admin (see 'stageproof user').
        lifecycle:
          stages:                          # in order: the routine lane
            - environment: staging         # an environment above; each at most once
            - environment: prod
              max_evidence_age: 7d         # staging's PASS may be at most this old (default: any age)
              approvals: 1                 # approvals by people other than the set's author and its promoter (default 0)
              roles: [operator, admin]     # who may promote into and roll out on prod (default operator, admin)
              window:                      # rollouts only while a maintenance window is open (default: any time)
                cron: "0 2 * * 6"          # when it opens: minute hour day-of-month month day-of-week (Saturdays 02:00)
                duration: 4h               # how long it stays open (at most 7d)
                time_zone: UTC             # the cron's time zone, e.g. Europe/Berlin (default UTC)
              rollout:
                canary: 1                  # hosts patched first, on their own (0: no canary)
                batch: 50%                 # hosts per later batch: a count or a percentage of the environment
                parallel: 8                # hosts of a batch patched at the same time (default: ssh.parallelism)
                max_failures: 0            # failed hosts tolerated before the rollout stops and rolls back
                pause: 0s                  # wait between batches
                settle: 5s                 # wait after patching a batch before its checks run
                checks: [health, service]  # checks of prod's suite run on each batch (default: all but load and soak)
                rollback: all              # on failure roll back every patched host (all) or only the failed batch (batch)
          emergency:                       # --emergency skips earlier stages; the set must PASS in a fresh clone of the target
            max_clone_age: 24h             # the clone is made after the set was frozen and is at most this old
            roles: [operator, admin]       # who may promote in the emergency lane

        # What the stage's drift step makes of what a change did beyond the set: fail, warn or ignore (listed, no reason).
        stage:
          policy:
            unexpected_config: fail        # a tracked config value the set does not declare changed
            unexpected_service: fail       # a service stopped or started
            permission_widened: fail       # a tracked file became group/world-writable, setuid or setgid
            new_listening_port: fail       # something new listens on the network
            unexpected_other: warn         # a port closed, another package, another owner, a narrower mode
          # environments:                  # per-environment overrides of the policy above
          #   qa: { new_listening_port: warn }

        # Where events are POSTed, signed (X-Stageproof-Signature: sha256=HMAC of the body); 'webhook deliveries' lists them.
        # webhooks:
        #   - name: ops-chat
        #     url: https://chat.example.net/hooks/stageproof
        #     events: [stage.verdict, approval.requested, rollout.failed, rollout.rolled_back, drift.threshold]   # or ["*"]
        #     secret_file: secrets/ops-chat.secret   # the signing secret; chmod 600
        #     format: slack                          # {"text": "..."}; default json
        #     timeout: 5s                            # each attempt
        #     attempts: 3                            # in all, retried with exponential backoff

        # Where the state is: a directory (SQLite; default ./.stageproof) or a PostgreSQL database several machines share.
        # Never a password in the URL: STAGEPROOF_STATE_PASSWORD, or a password file readable by its owner only.
        # state: postgres://stageproof@db.example.net:5432/stageproof
        # state_password_file: secrets/state.pw
        # audit_key_file: ~/.config/stageproof/audit.key   # seals the audit log; the same file on every machine of the state
        # Single sign-on for the web console of 'stageproof serve' (OpenID Connect, code flow with PKCE).
        # server:
        #   oidc:
        #     authority: https://idp.example/realms/ops   # the issuer URL
        #     client_id: stageproof
        #     client_secret_file: secrets/oidc.secret     # chmod 600
        #     role_claim: groups                          # default groups
        #     roles:                                      # claim value -> viewer | operator | approver | admin
        #       patch-approvers: approver
        #       ops: operator
        #       staging-leads: { role: approver, environments: [staging] }
        #     name_claim: preferred_username              # default

        """;
}
