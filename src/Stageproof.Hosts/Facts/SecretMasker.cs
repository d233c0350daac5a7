namespace Stageproof.Hosts.Facts;

/// <summary>
/// Masks secret values in stored file content, so that neither the stored content nor any diff of it shows them.
/// Which keys are secret: see <see cref="SecretKeyMatcher"/>. Each masked value becomes <see cref="Mask"/>; keys,
/// line endings and the rest of the content stay as they were. The shapes, line by line:
/// <list type="bullet">
/// <item>a setting line — <c>key = value</c>, <c>key: value</c>, <c>KEY=value</c>, <c>'key' =&gt; value</c>, also
/// after <c>export</c>, a YAML <c>- </c>, a PHP <c>$</c>, a comment sign, with a quoted key, or a key of up to four words
/// before <c>=</c>: the value is masked to the end of the line, quotes, trailing comma and comment included — no part
/// of an oddly quoted value survives, and content masked by earlier versions stays comparable; a YAML block value
/// (<c>key: |</c>, <c>key: &gt;-</c>) masks the lines indented below the key instead;</item>
/// <item>a <c>keyword value</c> line that is not a comment (<c>requirepass x</c>, <c>bindpw x</c>): the value;</item>
/// <item>within any line: <c>key=value</c> pairs (connection strings, URL queries, <c>Environment=</c>, XML attributes),
/// JSON and dictionary pairs, <c>&lt;key&gt;value&lt;/key&gt;</c>, <c>&lt;add key="ApiKey" value="x"/&gt;</c>, PHP
/// <c>define('KEY', 'value')</c>, netrc <c>password</c>, redis ACL <c>&gt;password</c>, the password of
/// <c>scheme://user:password@host</c>, <c>Authorization: Basic|Bearer</c> credentials, and AWS access key IDs and
/// GitHub tokens wherever they appear;</item>
/// <item>blocks: the body of a PEM private key (and of an OpenVPN static key), and of a secret-named XML element
/// spanning lines (OpenVPN's inline <c>&lt;auth-user-pass&gt;</c>);</item>
/// <item>credential files known by name: <c>.pgpass</c> (its fifth field), htpasswd files and rsync secrets files
/// (what follows the first colon).</item>
/// </list>
/// An empty value, and a value that only refers to another variable (<c>${DB_PASSWORD}</c>,
/// <c>{{ vault_db_password }}</c>), hides nothing and is kept. A <c>keyword value</c> line that is commented out is
/// kept too: it cannot be told from prose. Every built-in pattern runs on the non-backtracking engine, one line at
/// a time, so masking takes time linear in the content's length.
/// </summary>
public static partial class SecretMasker
{
    public const string Mask = Core.ConfigFiles.ConfigValues.SecretMask; // config files are compared knowing it

    /// <summary>Returns <paramref name="content"/> with secret values replaced; line endings are kept. An empty
    /// <paramref name="secretKeys"/> turns masking off. <paramref name="path"/>, when given, lets files whose
    /// lines are bare <c>user:password</c> records be recognised by name.</summary>
    public static string Apply(string content, IReadOnlyList<string> secretKeys, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(secretKeys);
        if (secretKeys.Count == 0 || content.Length == 0)
        {
            return content;
        }
        var scan = new Scan(content, SecretKeyMatcher.For(secretKeys), CredentialFileOf(path));
        return scan.Run();
    }

    private enum CredentialFile
    {
        None,
        /// <summary>hostname:port:database:username:password, ':' and '\' escaped with '\'.</summary>
        PgPass,
        /// <summary>user:secret (htpasswd, rsync's secrets file).</summary>
        UserSecret,
    }

    private static CredentialFile CredentialFileOf(string? path)
    {
        var name = path is null ? "" : Path.GetFileName(path);
        if (name is ".pgpass" or "pgpass.conf")
        {
            return CredentialFile.PgPass;
        }
        return name is ".htpasswd" or "htpasswd" ||
               name.EndsWith(".htpasswd", StringComparison.Ordinal) ||
               name.EndsWith(".secrets", StringComparison.Ordinal)
            ? CredentialFile.UserSecret
            : CredentialFile.None;
    }

    private enum BlockKind
    {
        None,
        /// <summary>A YAML block value: lines indented deeper than its key.</summary>
        Indented,
        /// <summary>A PEM private key's body, up to its -----END line.</summary>
        Pem,
        /// <summary>A secret-named XML element's body, up to its closing tag.</summary>
        Element,
    }

    /// <summary>One pass over the content: collects the ranges to mask line by line, then builds the result.</summary>
    private sealed partial class Scan(string content, SecretKeyMatcher keys, CredentialFile credentialFile)
    {
        private readonly List<(int Start, int End)> _masked = [];
        private BlockKind _block;
        private int _blockKeyColumn;
        private string _blockCloseTag = "";

        public string Run()
        {
            var pos = 0;
            while (pos < content.Length)
            {
                var newline = content.IndexOf('\n', pos);
                var end = newline < 0 ? content.Length : newline;
                var bodyEnd = end > pos && content[end - 1] == '\r' ? end - 1 : end;
                MaskLine(content[pos..bodyEnd], pos);
                pos = end + 1;
            }
            return _masked.Count == 0 ? content : Build();
        }

        private void MaskLine(string line, int at)
        {
            if (_block != BlockKind.None && ContinueBlock(line, at))
            {
                return;
            }
            if (credentialFile != CredentialFile.None)
            {
                MaskCredentialRecord(line, at);
            }
            if (!MaskSettingLine(line, at) && !MaskKeywordLine(line, at))
            {
                MaskWithinLine(line, at);
                StartElementBlock(line);
            }
            if (_block == BlockKind.None && OpensPemBlock(line))
            {
                _block = BlockKind.Pem;
            }
        }

        /// <summary>Masks a line inside a multi-line secret; false when the line ends the block and is a line of
        /// its own.</summary>
        private bool ContinueBlock(string line, int at)
        {
            var indent = line.Length - line.AsSpan().TrimStart(" \t").Length;
            switch (_block)
            {
                case BlockKind.Indented when indent == line.Length:
                    return true;
                case BlockKind.Indented when indent > _blockKeyColumn:
                    MaskRange(at + indent, at + line.Length);
                    return true;
                case BlockKind.Pem when line.Contains("-----END ", StringComparison.Ordinal):
                    _block = BlockKind.None;
                    return true;
                case BlockKind.Pem:
                    MaskRange(at + indent, at + line.Length);
                    return true;
                case BlockKind.Element:
                    var close = line.IndexOf(_blockCloseTag, StringComparison.Ordinal);
                    if (close >= 0)
                    {
                        _block = BlockKind.None;
                    }
                    var bodyEnd = close >= 0 ? close : line.Length;
                    MaskRange(at + indent, at + indent + line.AsSpan(indent, Math.Max(0, bodyEnd - indent)).TrimEnd(" \t").Length);
                    return true;
                default:
                    _block = BlockKind.None;
                    return false;
            }
        }

        private void MaskRange(int start, int end)
        {
            if (end > start)
            {
                _masked.Add((start, end));
            }
        }

        private string Build()
        {
            _masked.Sort();
            var result = new System.Text.StringBuilder(content.Length);
            var copied = 0;
            var i = 0;
            while (i < _masked.Count)
            {
                var (start, end) = _masked[i];
                // Overlapping ranges (a URL's password inside a masked JSON value) become one mask.
                while (++i < _masked.Count && _masked[i].Start < end)
                {
                    end = Math.Max(end, _masked[i].End);
                }
                result.Append(content, copied, start - copied).Append(Mask);
                copied = end;
            }
            return result.Append(content, copied, content.Length - copied).ToString();
        }
    }
}
