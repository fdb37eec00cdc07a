using Grpc.Core;

namespace Migrate.Target;

/// <summary>
/// The session a call is about, kept in the call's own state so that lines
/// logged outside its handler (the error interceptor's) can name it too.
/// </summary>
internal static class CallSession
{
    private const string Key = "migrate-session-id";

    /// <summary>Records <paramref name="sessionId"/> as the call's session and returns it.</summary>
    public static string Bind(ServerCallContext context, string sessionId)
    {
        context.UserState[Key] = sessionId;
        return sessionId;
    }

    public static string? Of(ServerCallContext context) => context.UserState.TryGetValue(Key, out var id) ? (string)id : null;
}
