namespace GcnKd.Host.Errors;

/// <summary>
/// A mistake the user can fix: a missing or corrupt file, an output path that cannot be written, a checkpoint that
/// does not fit the model. The message names the file or argument and says what was expected; the CLI prints it
/// (no stack trace) and exits with code 2. Programming errors are never wrapped into this type.
/// </summary>
public sealed class GcnKdUserError : Exception
{
    public GcnKdUserError(string message) : base(message) { }

    public GcnKdUserError(string message, Exception inner) : base(message, inner) { }
}
