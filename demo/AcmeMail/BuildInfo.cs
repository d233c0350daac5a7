namespace AcmeMail;

/// <summary>What this build is. <see cref="Version"/> is generated from the MSBuild property AcmeMailVersion.</summary>
internal static partial class BuildInfo
{
    /// <summary>
    /// Whether GET /mailbox/{user} and GET /search require the token's owner to be {user}.
    /// Release 1.0 shipped without the check (any valid token reads any mailbox); 1.1 fixed it.
    /// </summary>
#if ACME_MAIL_FIXED_MAILBOX_OWNER
    public const bool EnforcesMailboxOwner = true;
#else
    public const bool EnforcesMailboxOwner = false;
#endif
}
