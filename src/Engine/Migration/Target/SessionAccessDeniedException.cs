namespace Migrate.Engine.Migration.Target;

/// <summary>
/// A call for a session presented neither its secret nor, to commit or
/// abort, the operator's: the session belongs to another source.
/// </summary>
public sealed class SessionAccessDeniedException(string id, bool settling) : Exception(settling
    ? $"session {id} belongs to the source that opened it: to commit or abort it by hand, present this target's operator file (migrate commit|abort --operator-file)"
    : $"session {id} belongs to the source that opened it: this call does not carry its secret");
