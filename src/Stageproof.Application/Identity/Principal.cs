using Stageproof.Core.Lifecycle;

namespace Stageproof.Application.Identity;

/// <summary>
/// Who is acting, as Stageproof knows it: a name, how it was proven ("os:NAME", "token:ID", "password:NAME", "oidc:NAME"; null when it
/// is only a typed name), and the user record the access policy judges (null when the name is no Stageproof user).
/// </summary>
public sealed record Principal(string Name, string? AuthenticatedBy, User? User);
