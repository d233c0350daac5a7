using Stageproof.Core.State;
using Stageproof.Core.Validation;
using YamlDotNet.RepresentationModel;

namespace Stageproof.Core.Configuration.Internal;

internal sealed partial class ConfigReader
{
    private StateSettings _state = new();

    /// <summary>state: DIR | postgres://USER@HOST:PORT/DB; state_password_file: FILE; audit_key_file: FILE.</summary>
    private void ReadState(string name, YamlNode value, string path)
    {
        switch (name)
        {
            case "state" when _yaml.RequiredString(value, path) is { } text:
                var at = _yaml.At(value, path);
                var source = $"{Path.GetFileName(at.File)}:{at.Line} state";
                try
                {
                    _state = _state with { Location = StateLocation.Parse(text, source, _baseDirectory), LocationSource = source };
                }
                catch (InputException e)
                {
                    _yaml.Report(value, path, e.Message[(source.Length + 2)..]);
                }
                break;
            case "state_password_file" when ReadPath(value, path) is { } file:
                if (InputFiles.SharedMode(file) is { } mode)
                {
                    _yaml.Report(value, path, $"{file} may be read by others (mode {mode}); the state's password must be its owner's alone: chmod 600 {file}");
                    break;
                }
                _state = _state with { PasswordFile = file };
                break;
            case "audit_key_file" when ReadPath(value, path) is { } key:
                _state = _state with { AuditKeyFile = key };
                break;
        }
    }

    /// <summary>Only the state keys of a configuration file: what opening the state needs, without judging the rest of
    /// the file (verbs that need no estate still work beside a configuration being edited).</summary>
    public StateSettings ReadStateOnly(string text)
    {
        var root = _yaml.ParseDocument(text);
        if (root is YamlMappingNode mapping)
        {
            foreach (var (key, node) in mapping.Children)
            {
                if (key is YamlScalarNode { Value: { } name } && name is "state" or "state_password_file" or "audit_key_file")
                {
                    ReadState(name, node, name);
                }
            }
        }
        _problems.ThrowIfAny();
        return _state;
    }
}
