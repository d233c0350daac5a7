using System.Text;

namespace Stageproof.Testing;

/// <summary>Canned outputs of the host facts script.</summary>
public static class FactsSamples
{
    /// <summary>A realistic output of the facts script with the given numbers of packages and tracked files
    /// (each file's content has a "password = hunter2" line), for parser tests and benchmarks.</summary>
    public static string ScriptOutput(int packages, int files)
    {
        var sb = new StringBuilder();
        sb.Append("@@stageproof-facts 1\n@@os-release\n")
          .Append("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n\n")
          .Append("@@kernel\n6.1.0-18-amd64\n@@arch\namd64\n@@packages\n");
        for (var i = 0; i < packages; i++)
        {
            sb.Append("pkg-").Append(i).Append("\t1.").Append(i).Append("-1\tamd64\tii \n");
        }
        sb.Append("@@upgrades\nInst pkg-1 [1.1-1] (1.1-2 Debian-Security:12/stable-security [amd64])\n@@files\n");
        var content = Convert.ToBase64String(Encoding.UTF8.GetBytes("listen = 127.0.30.11\npassword = hunter2\n"));
        for (var i = 0; i < files; i++)
        {
            sb.Append("@@file\troot\tacme\t640\t41\t").Append(new string('a', 64)).Append("\t/etc/acme-mail/").Append(i).Append(" main.conf\n")
              .Append(content).Append('\n');
        }
        sb.Append("@@services sysv\nacme-mail\t0\n@@tcp\n")
          .Append("   0: 0B1E007F:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 19 1 0 100 0 0 10 0\n")
          .Append("   1: 0B0A007F:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 19 1 0 100 0 0 10 0\n")
          .Append("@@tcp6\n@@end\n");
        return sb.ToString();
    }
}
