using System.Text.Json.Serialization;

namespace AcmeMail;

public sealed record HealthResponse(string Status, string Version, string Db);

public sealed record LoginRequest(string? User, string? Password);

public sealed record LoginResponse(string Token);

public sealed record ErrorResponse(string Error);

public sealed record MessageSummary(long Id, string Sender, string Subject, DateTime SentAt);

public sealed record SearchHit(long Id, string Sender, string Subject, DateTime SentAt, float Rank);

/// <summary>Source-generated JSON (the published binary is trimmed; reflection-based JSON is off).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(LoginRequest))]
[JsonSerializable(typeof(LoginResponse))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(MessageSummary[]))]
[JsonSerializable(typeof(SearchHit[]))]
public sealed partial class AcmeJsonContext : JsonSerializerContext;
