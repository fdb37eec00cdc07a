namespace Migrate.Engine.Protocol;

/// <summary>A target agent's address as the operator writes it: HOST:PORT or [IPv6]:PORT.</summary>
public sealed record TargetAddress(string Host, int Port)
{
    /// <param name="text">HOST:PORT.</param>
    /// <param name="allowAnyPort">Accept port 0, which asks the kernel for a free port (listening only).</param>
    public static TargetAddress Parse(string text, bool allowAnyPort = false)
    {
        int colon = text.LastIndexOf(':');
        int lowest = allowAnyPort ? 0 : 1;
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), out int port) || port < lowest || port > 65535)
        {
            throw new FormatException($"'{text}' is not HOST:PORT");
        }
        var host = text[..colon];
        if (host.StartsWith('[') != host.EndsWith(']'))
        {
            throw new FormatException($"'{text}' is not HOST:PORT");
        }
        return new TargetAddress(host, port);
    }

    /// <summary>Always https: the agents speak HTTP/2 over TLS only.</summary>
    public Uri ToUri() => new($"https://{Host}:{Port}");

    public override string ToString() => $"{Host}:{Port}";
}
