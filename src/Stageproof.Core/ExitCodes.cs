namespace Stageproof.Core;

/// <summary>The process exit codes every verb uses.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A finding: drift over threshold, validation failed, audit tampered.</summary>
    public const int Finding = 1;
    /// <summary>Bad input, bad configuration, usage.</summary>
    public const int BadInput = 2;
    /// <summary>Infrastructure error: host unreachable, authentication refused.</summary>
    public const int Infrastructure = 3;
}
