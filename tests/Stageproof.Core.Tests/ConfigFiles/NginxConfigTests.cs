using Stageproof.Core.ConfigFiles;

namespace Stageproof.Core.Tests.ConfigFiles;

/// <summary>nginx's files compared by value: what nginx acts on is a change, what it ignores is cosmetic.</summary>
public class NginxConfigTests
{
    /// <summary>Debian 12's /etc/nginx/nginx.conf as nginx 1.22.1-9 ships it, its long comment blocks shortened.</summary>
    private const string DebianNginxConf = """
        user www-data;
        worker_processes auto;
        pid /run/nginx.pid;
        include /etc/nginx/modules-enabled/*.conf;

        events {
        	worker_connections 768;
        	# multi_accept on;
        }

        http {

        	##
        	# Basic Settings
        	##

        	sendfile on;
        	tcp_nopush on;
        	types_hash_max_size 2048;
        	# server_tokens off;

        	include /etc/nginx/mime.types;
        	default_type application/octet-stream;

        	##
        	# SSL Settings
        	##

        	ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
        	ssl_prefer_server_ciphers on;

        	access_log /var/log/nginx/access.log;
        	error_log /var/log/nginx/error.log;

        	gzip on;

        	include /etc/nginx/conf.d/*.conf;
        	include /etc/nginx/sites-enabled/*;
        }
        """;

    /// <summary>The mail estate's proxy: one site in front of two app hosts.</summary>
    private const string MailSite = """
        upstream acme_mail {
            server 127.0.30.11:8080;
            server 127.0.30.12:8080;
        }

        server {
            listen 80;
            listen [::]:80;
            server_name mail.acme.test;

            location / {
                proxy_pass http://acme_mail;
                proxy_set_header Host $host;
                proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                proxy_read_timeout 60s;
            }

            location /admin {
                allow 10.0.0.0/8;
                deny all;
            }

            location ~ \.php$ { return 404; }
            location ~* ^/static/ { root /srv/static; }
        }
        """;

    private static ConfigComparison Compare(string path, string before, string after, params FormatRule[] declared) =>
        ConfigValuesTests.Compare(path, before, after, declared);

    private static void AssertChanges(ConfigComparison c, params string[] expected)
    {
        Assert.Equal(ConfigFormat.Nginx, c.Format);
        Assert.False(c.Cosmetic, c.Note);
        Assert.Equal(string.Join("\n", expected), string.Join("\n", c.Changes.Select(v => v.ToString())));
    }

    [Fact]
    public void Debians_nginx_conf_is_read_by_its_path_and_every_value_has_its_block_path()
    {
        var parsed = ConfigParser.Parse(ConfigFormat.Nginx, DebianNginxConf);
        Assert.Null(parsed.Error);
        var values = parsed.Values!.ToDictionary(v => v.Key, v => v.Value.Value);
        Assert.Equal("768", values["events > worker_connections"]);
        Assert.Equal("TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", values["http > ssl_protocols"]);
        Assert.Equal("/etc/nginx/mime.types | /etc/nginx/conf.d/*.conf | /etc/nginx/sites-enabled/*", values["http > include"]);
        Assert.Equal("/etc/nginx/modules-enabled/*.conf", values["include"]);
        Assert.False(values.ContainsKey("events > multi_accept"), "a commented-out directive is not a value");

        Assert.Equal((ConfigFormat.Nginx, "its name"), ConfigFormats.None.Resolve("/etc/nginx/nginx.conf"));
        Assert.Equal((ConfigFormat.Nginx, "its name"), ConfigFormats.None.Resolve("/etc/nginx/sites-available/default"));
        Assert.Equal((ConfigFormat.Nginx, "its name"), ConfigFormats.None.Resolve("/etc/nginx/conf.d/mail.conf"));
    }

    [Fact]
    public void Comments_indentation_quotes_and_the_order_of_independent_directives_and_blocks_are_cosmetic()
    {
        var tidied = """
            # Reworded by the new upstream release.
            http {
                include "/etc/nginx/mime.types";
                default_type application/octet-stream;
                sendfile "on"; tcp_nopush on;
                types_hash_max_size 2048;
                ssl_prefer_server_ciphers on;
                ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
                error_log /var/log/nginx/error.log;
                access_log /var/log/nginx/access.log;
                gzip on;
                include /etc/nginx/conf.d/*.conf;
                include /etc/nginx/sites-enabled/*;
            }
            events { worker_connections 768; }
            include /etc/nginx/modules-enabled/*.conf;
            pid /run/nginx.pid;
            worker_processes auto;
            user www-data;
            """;
        var c = Compare("/etc/nginx/nginx.conf", DebianNginxConf, tidied);
        Assert.True(c.Cosmetic, $"{c.Note}: {string.Join("; ", c.Changes)}");
        Assert.Equal(ConfigFormat.Nginx, c.Format);
        Assert.Equal("read as nginx (its name)", c.Note);
    }

    [Fact]
    public void A_changed_timeout_is_named_by_its_server_and_location()
    {
        AssertChanges(Compare("/etc/nginx/sites-available/mail", MailSite, MailSite.Replace("proxy_read_timeout 60s;", "proxy_read_timeout 5s;", StringComparison.Ordinal)),
            "server (server_name mail.acme.test) > location / > proxy_read_timeout: 60s → 5s");
        AssertChanges(Compare("/etc/nginx/nginx.conf", DebianNginxConf, DebianNginxConf.Replace("\tgzip on;", "\tgzip on;\n\tkeepalive_timeout 5;", StringComparison.Ordinal)),
            "http > keepalive_timeout added (5)");
        AssertChanges(Compare("/etc/nginx/sites-available/mail", MailSite, MailSite.Replace("listen 80;", "listen 8080;", StringComparison.Ordinal)),
            "server (server_name mail.acme.test) > listen: 80 | [::]:80 → 8080 | [::]:80");
    }

    [Fact]
    public void Every_order_nginx_acts_on_is_kept()
    {
        var swappedAccess = MailSite.Replace("allow 10.0.0.0/8;\n        deny all;", "deny all;\n        allow 10.0.0.0/8;", StringComparison.Ordinal);
        Assert.NotEqual(MailSite, swappedAccess);
        AssertChanges(Compare("/etc/nginx/sites-available/mail", MailSite, swappedAccess),
            "server (server_name mail.acme.test) > location /admin > allow/deny: allow 10.0.0.0/8 | deny all → deny all | allow 10.0.0.0/8");

        // The first regex location that matches wins.
        var swappedRegex = MailSite.Replace("    location ~ \\.php$ { return 404; }\n    location ~* ^/static/ { root /srv/static; }",
            "    location ~* ^/static/ { root /srv/static; }\n    location ~ \\.php$ { return 404; }", StringComparison.Ordinal);
        Assert.NotEqual(MailSite, swappedRegex);
        AssertChanges(Compare("/etc/nginx/sites-available/mail", MailSite, swappedRegex),
            "server (server_name mail.acme.test) > (regex location order): location ~ \\.php$ | location ~* ^/static/ → location ~* ^/static/ | location ~ \\.php$");

        // The first server of a port is its default server.
        const string two = "server { listen 80; server_name a; }\nserver { listen 80; server_name b; }\n";
        const string swapped = "server { listen 80; server_name b; }\nserver { listen 80; server_name a; }\n";
        AssertChanges(Compare("/etc/nginx/conf.d/two.conf", two, swapped),
            "(server order): server (server_name a) | server (server_name b) → server (server_name b) | server (server_name a)");

        // A directive given twice keeps both, in order; an upstream's servers are such a list.
        var reordered = MailSite.Replace("server 127.0.30.11:8080;\n    server 127.0.30.12:8080;", "server 127.0.30.12:8080;\n    server 127.0.30.11:8080;", StringComparison.Ordinal);
        AssertChanges(Compare("/etc/nginx/sites-available/mail", MailSite, reordered),
            "upstream acme_mail > server: 127.0.30.11:8080 | 127.0.30.12:8080 → 127.0.30.12:8080 | 127.0.30.11:8080");
    }

    [Fact]
    public void Quoted_text_and_variables_may_hold_semicolons_and_braces()
    {
        const string before = "server {\n    set $target \"${scheme}://$host\";\n    return 200 'ok; {not a block}';\n    add_header X-Note \"a \\\"quoted\\\" word\";\n}\n";
        var parsed = ConfigParser.Parse(ConfigFormat.Nginx, before);
        Assert.Null(parsed.Error);
        var values = parsed.Values!.ToDictionary(v => v.Key, v => v.Value.Value);
        Assert.Equal("set $target ${scheme}://$host | return 200 ok; {not a block}", values["server > rewrite/return/set/break"]);
        Assert.Equal("X-Note a \"quoted\" word", values["server > add_header"]);
        Assert.Equal("set $x ${host}a", ConfigParser.Parse(ConfigFormat.Nginx, "set $x ${host}a;\n").Values!["rewrite/return/set/break"].Value);
    }

    [Theory]
    [InlineData("http {\n    gzip on;\n", "a block is not closed at the end (line 3)")]
    [InlineData("gzip on;\n}\n", "line 2 ('}') is not nginx")]
    [InlineData("user www-data;\nworker_processes auto\n", "line 2 ('worker_processes auto') is not nginx")]
    [InlineData("error_log \"/var/log/x.log;\n", "line 1 ('error_log \"/var/log/x.log;') is not nginx")]
    [InlineData("events {\n    ;\n}\n", "line 2 (';') is not nginx")]
    public void A_file_that_is_not_nginx_is_compared_by_bytes_naming_the_line(string broken, string why)
    {
        var c = Compare("/etc/nginx/nginx.conf", DebianNginxConf, broken);
        Assert.Equal(ConfigFormat.Bytes, c.Format);
        Assert.Equal($"compared by bytes, not as nginx (its name): in the after version, {why}", c.Note);
    }

    [Fact]
    public void A_file_elsewhere_is_read_as_nginx_when_drift_formats_says_so()
    {
        var c = Compare("/srv/proxy/site.conf", MailSite, MailSite.Replace("60s", "90s", StringComparison.Ordinal), new FormatRule("/srv/proxy/*.conf", ConfigFormat.Nginx));
        AssertChanges(c, "server (server_name mail.acme.test) > location / > proxy_read_timeout: 60s → 90s");
        Assert.Equal("read as nginx (drift.formats '/srv/proxy/*.conf')", c.Note);
    }
}
