using Grpc.Core;
using Grpc.Core.Interceptors;
using Migrate.Engine.Credentials;
using Migrate.Engine.Protocol;

namespace Migrate.Target;

/// <summary>
/// Refuses every call that does not carry the agent's token as
/// "authorization: Bearer TOKEN". The comparison takes the same time whatever
/// the token's content or length, so timing reveals nothing about it.
/// </summary>
internal sealed class TokenAuthInterceptor(string token) : Interceptor
{
    private readonly SecretDigest _token = new(token);

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authenticate(ServerCallContext context)
    {
        const string Scheme = "Bearer ";
        var header = context.RequestHeaders.GetValue(WireProtocol.AuthorizationHeader);
        var presented = header is not null && header.StartsWith(Scheme, StringComparison.Ordinal) ? header[Scheme.Length..] : null;
        if (!_token.Matches(presented))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "missing or wrong token"));
        }
    }
}
