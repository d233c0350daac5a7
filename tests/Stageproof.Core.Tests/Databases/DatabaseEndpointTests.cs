using Stageproof.Core.Databases;

namespace Stageproof.Core.Tests.Databases;

public sealed class DatabaseEndpointTests
{
    [Theory]
    [InlineData("Host=127.0.0.1;Database=mail;Password=a:b", DatabaseEngine.Postgres, "Host=127.0.0.1;Database=mail;Password=a:b")]
    [InlineData("mariadb:Server=x;Database=mail", DatabaseEngine.MariaDb, "Server=x;Database=mail")]
    [InlineData("MySQL:Server=x", DatabaseEngine.MySql, "Server=x")]
    [InlineData("postgres:Host=x", DatabaseEngine.Postgres, "Host=x")]
    [InlineData("postgres://user@host/db", DatabaseEngine.Postgres, "postgres://user@host/db")]
    public void The_one_string_form_names_the_engine_and_a_plain_connection_string_is_postgres(string value, DatabaseEngine engine, string connection)
    {
        Assert.Equal(new DatabaseEndpoint(engine, connection), DatabaseEndpoint.Parse(value));
    }

    [Fact]
    public void Postgres_round_trips_as_the_bare_connection_string_and_other_engines_with_their_prefix()
    {
        Assert.Equal("Host=x", new DatabaseEndpoint(DatabaseEngine.Postgres, "Host=x").ToString());
        Assert.Equal("mariadb:Server=x", new DatabaseEndpoint(DatabaseEngine.MariaDb, "Server=x").ToString());
        Assert.Equal("mysql:Server=x", new DatabaseEndpoint(DatabaseEngine.MySql, "Server=x").ToString());
    }

    [Fact]
    public void An_unknown_prefix_is_refused_naming_the_known_engines()
    {
        var e = Assert.Throws<InputException>(() => DatabaseEndpoint.Parse("oracle:Data Source=x"));
        Assert.Equal("unknown database engine 'oracle' (known: postgres, mariadb, mysql)", e.Message);
    }
}
