namespace AcmeMail;

/// <summary>The authorization rule for reading a mailbox, in both its released forms.</summary>
public static class MailboxAccess
{
    /// <summary>
    /// Decides whether the owner of a valid session token may read <paramref name="mailboxUser"/>'s mailbox.
    /// With <paramref name="enforceOwner"/> false (release 1.0, the bug) every valid token reads every mailbox.
    /// </summary>
    public static bool MayRead(string tokenOwner, string mailboxUser, bool enforceOwner) =>
        !enforceOwner || string.Equals(tokenOwner, mailboxUser, StringComparison.Ordinal);
}
