using Stageproof.Core.State;

namespace Stageproof.Core.Tests.State;

public sealed class StateLocationTests
{
    [Theory]
    [InlineData("postgres://stageproof@db.example:5433/state", "db.example", 5433, "state", "stageproof")]
    [InlineData("postgresql://ops@10.0.0.5/stageproof", "10.0.0.5", 5432, "stageproof", "ops")]
    [InlineData("postgres://ops%40corp@[::1]:6000/st%20ate", "::1", 6000, "st ate", "ops@corp")]
    public void A_postgres_url_names_host_port_database_and_user(string url, string host, int port, string database, string user)
    {
        var location = StateLocation.Parse(url, "--state", "/work");

        Assert.True(location.IsPostgres);
        Assert.Null(location.Directory);
        Assert.Equal((host, port, database, user), (location.Host, location.Port, location.Database, location.User));
        Assert.Equal(location, StateLocation.Parse(location.ToString(), "again", "/"));
    }

    [Fact]
    public void Anything_else_is_a_directory_resolved_against_the_base()
    {
        var location = StateLocation.Parse("lab/.stageproof", "stageproof.yaml:2 state", "/srv/ops");

        Assert.False(location.IsPostgres);
        Assert.Equal("/srv/ops/lab/.stageproof", location.Directory);
        Assert.Equal("/srv/ops/lab/.stageproof", location.ToString());
    }

    [Theory]
    [InlineData("postgres://ops:hunter2@db/state")]
    [InlineData("postgresql://ops:@db:5432/state")]
    public void A_password_in_the_url_is_refused_naming_where_it_came_from_without_echoing_it(string url)
    {
        var error = Assert.Throws<InputException>(() => StateLocation.Parse(url, "--state", "/"));

        Assert.Equal(ExitCodes.BadInput, error.ExitCode);
        Assert.StartsWith("--state: the state URL carries a password, which is refused", error.Message, StringComparison.Ordinal);
        Assert.Contains("STAGEPROOF_STATE_PASSWORD or state_password_file", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("postgres://db/state", "names no user")]
    [InlineData("postgres://ops@db/", "names no database")]
    [InlineData("postgres://ops@db/a/b", "names no database")]
    [InlineData("postgres://ops@db/state?application_name=x", "URL parameter 'application_name' is not supported")]
    [InlineData("postgres://ops@db/state?sslmode=maybe", "sslmode 'maybe' is not one of")]
    [InlineData("mysql://ops@db/state", "neither a directory nor a postgres://")]
    [InlineData(" ", "empty")]
    public void A_malformed_location_is_refused_with_one_line_naming_the_problem(string text, string expected)
    {
        var error = Assert.Throws<InputException>(() => StateLocation.Parse(text, "--state", "/"));

        Assert.StartsWith("--state: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
