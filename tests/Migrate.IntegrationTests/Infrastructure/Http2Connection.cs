using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Migrate.Engine.Credentials;

namespace Migrate.IntegrationTests.Infrastructure;

/// <summary>An HTTP/2 frame's header and payload (RFC 9113, 4.1).</summary>
internal sealed record Http2Frame(byte Type, byte Flags, int Stream, byte[] Payload)
{
    public const byte Settings = 0x4;
    public const byte Ping = 0x6;
    public const byte GoAway = 0x7;
    public const byte Ack = 0x1;
}

/// <summary>
/// One HTTP/2 connection over TLS, frame by frame, with no HTTP/2 stack that
/// answers for the test: it says nothing the test does not write, so it can
/// stay silent where a real client would answer a PING.
/// </summary>
internal sealed class Http2Connection : IAsyncDisposable
{
    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private readonly TcpClient _tcp;
    private readonly SslStream _tls;

    private Http2Connection(TcpClient tcp, SslStream tls)
    {
        _tcp = tcp;
        _tls = tls;
    }

    /// <summary>Connects, completes TLS 1.3 with ALPN h2 (recognising the agent by <paramref name="trust"/>), and sends the preface and empty SETTINGS.</summary>
    public static async Task<Http2Connection> OpenAsync(int port, TargetTrust trust)
    {
        var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync("127.0.0.1", port);
            var tls = new SslStream(tcp.GetStream());
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                EnabledSslProtocols = SslProtocols.Tls13,
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) => trust.Refusal(certificate as X509Certificate2, chain, errors) is null,
            });
            var connection = new Http2Connection(tcp, tls);
            await tls.WriteAsync(Preface);
            await connection.WriteAsync(new Http2Frame(Http2Frame.Settings, 0, 0, []));
            return connection;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    public async Task WriteAsync(Http2Frame frame)
    {
        var header = new byte[9];
        header[0] = (byte)(frame.Payload.Length >> 16);
        header[1] = (byte)(frame.Payload.Length >> 8);
        header[2] = (byte)frame.Payload.Length;
        header[3] = frame.Type;
        header[4] = frame.Flags;
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(5), frame.Stream);
        await _tls.WriteAsync(header);
        await _tls.WriteAsync(frame.Payload);
        await _tls.FlushAsync();
    }

    /// <summary>The next frame, or null once the server has closed the connection.</summary>
    public async Task<Http2Frame?> ReadAsync(CancellationToken cancellationToken)
    {
        var header = new byte[9];
        try
        {
            await _tls.ReadExactlyAsync(header, cancellationToken);
            var payload = new byte[(header[0] << 16) | (header[1] << 8) | header[2]];
            await _tls.ReadExactlyAsync(payload, cancellationToken);
            return new Http2Frame(header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & int.MaxValue, payload);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _tls.DisposeAsync();
        _tcp.Dispose();
    }
}
