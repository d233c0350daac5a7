using System.Text.Json;
using Stageproof.Core.Checks;

namespace Stageproof.Core.Tests.Checks;

public sealed class JsonAssertionTests
{
    private static (bool, string) Eval(string assertion, string json)
    {
        var (a, error) = JsonAssertion.Parse(assertion);
        Assert.True(a is not null, error);
        using var doc = JsonDocument.Parse(json);
        return a.Evaluate(doc.RootElement);
    }

    [Theory]
    [InlineData("$.status == \"ok\"", """{"status":"ok"}""", true)]
    [InlineData("$.status == \"ok\"", """{"status":"degraded"}""", false)]
    [InlineData("$.status != \"ok\"", """{"status":"degraded"}""", true)]
    [InlineData("$.items[1].n >= 2", """{"items":[{"n":1},{"n":2}]}""", true)]
    [InlineData("$.items[2].n >= 2", """{"items":[{"n":1},{"n":2}]}""", false)]
    [InlineData("$.count < 10", """{"count":10}""", false)]
    [InlineData("$.count == 10", """{"count":10.0}""", true)]
    [InlineData("$.token exists", """{"token":"abc"}""", true)]
    [InlineData("$.token exists", """{"other":"abc"}""", false)]
    [InlineData("$.db == null", """{"db":null}""", true)]
    [InlineData("$[0] == true", """[true]""", true)]
    public void Assertions_evaluate(string assertion, string json, bool holds) => Assert.Equal(holds, Eval(assertion, json).Item1);

    [Fact]
    public void A_failed_assertion_names_what_was_found() =>
        Assert.Equal((false, "\"degraded\""), Eval("$.status == \"ok\"", """{"status":"degraded"}"""));

    [Theory]
    [InlineData("status == ok")]
    [InlineData("$.status == ok")]
    [InlineData("$.n > \"x\"")]
    [InlineData("$.n exists 3")]
    public void Malformed_assertions_say_why(string text)
    {
        var (assertion, error) = JsonAssertion.Parse(text);
        Assert.Null(assertion);
        Assert.False(string.IsNullOrEmpty(error));
    }
}
