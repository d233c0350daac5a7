using Stageproof.Core.State;

namespace Stageproof.Core.Configuration;

/// <summary>
/// Where the state is and how to reach it (<c>state:</c>, <c>state_password_file:</c>, <c>audit_key_file:</c> in
/// stageproof.yaml). Paths are absolute; a null value means the default (<c>./.stageproof</c>, no password file, the
/// audit key from <c>STAGEPROOF_AUDIT_KEY</c> or <c>~/.config/stageproof/audit.key</c>).
/// </summary>
public sealed record StateSettings
{
    public StateLocation? Location { get; init; }
    /// <summary>Where <see cref="Location"/> was written, for messages ("stageproof.yaml:3 state").</summary>
    public string? LocationSource { get; init; }
    /// <summary>A file holding the PostgreSQL password (its owner's alone); <c>STAGEPROOF_STATE_PASSWORD</c> wins over it.</summary>
    public string? PasswordFile { get; init; }
    /// <summary>The audit key file; <c>STAGEPROOF_AUDIT_KEY</c> and the default apply when null.</summary>
    public string? AuditKeyFile { get; init; }
}
