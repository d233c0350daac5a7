using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace AcmeMail;

public enum LogLevelName
{
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

public static class LogLevels
{
    public static bool TryParse(string text, out LogLevelName level)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "debug": level = LogLevelName.Debug; return true;
            case "info": level = LogLevelName.Info; return true;
            case "warn" or "warning": level = LogLevelName.Warn; return true;
            case "error": level = LogLevelName.Error; return true;
            default: level = LogLevelName.Info; return false;
        }
    }

    public static string Label(LogLevelName level) => level switch
    {
        LogLevelName.Debug => "DEBUG",
        LogLevelName.Info => "INFO",
        LogLevelName.Warn => "WARN",
        _ => "ERROR",
    };
}

/// <summary>
/// The service log: one line per event, <c>2026-11-23T10:00:00.123Z INFO message</c>, appended to a file
/// (falls back to standard error when the file cannot be opened). Thread-safe; every line is flushed.
/// </summary>
public sealed class AppLog : IDisposable
{
    private readonly Lock _gate = new();
    private readonly TextWriter _writer;
    private readonly bool _ownsWriter;

    public AppLog(string path, LogLevelName minimum, TimeProvider? clock = null)
    {
        Minimum = minimum;
        Clock = clock ?? TimeProvider.System;
        Path = path;
        try
        {
            var dir = System.IO.Path.GetDirectoryName(path);
            if (!string.IsNullOrEmpty(dir))
            {
                Directory.CreateDirectory(dir);
            }
            var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
            _ownsWriter = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _writer = Console.Error;
            _ownsWriter = false;
            Write(LogLevelName.Warn, $"cannot open log file {path} ({e.Message}); logging to standard error");
        }
    }

    public string Path { get; }
    public LogLevelName Minimum { get; }
    public TimeProvider Clock { get; }

    public void Debug(string message) => Write(LogLevelName.Debug, message);
    public void Info(string message) => Write(LogLevelName.Info, message);
    public void Warn(string message) => Write(LogLevelName.Warn, message);
    public void Error(string message) => Write(LogLevelName.Error, message);

    public void Write(LogLevelName level, string message)
    {
        if (level < Minimum)
        {
            return;
        }
        var stamp = Clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        // One event, one line: fold any line breaks of exception messages.
        var text = message.Replace("\r", "", StringComparison.Ordinal).Replace('\n', ' ');
        lock (_gate)
        {
            _writer.WriteLine($"{stamp} {LogLevels.Label(level)} {text}");
        }
    }

    public void Dispose()
    {
        if (_ownsWriter)
        {
            lock (_gate)
            {
                _writer.Dispose();
            }
        }
    }
}

/// <summary>Routes Microsoft.Extensions.Logging (Kestrel, hosting) into <see cref="AppLog"/> — warnings and worse only.</summary>
internal sealed class AppLogProvider(AppLog log) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(log, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(AppLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            var level = logLevel >= LogLevel.Error ? LogLevelName.Error : LogLevelName.Warn;
            var message = formatter(state, exception);
            log.Write(level, exception is null ? $"{category}: {message}" : $"{category}: {message}: {exception.GetType().Name}: {exception.Message}");
        }
    }
}
