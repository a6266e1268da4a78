using System.CommandLine;
using System.Diagnostics;

namespace Letterlock.Cli.Commands;

/// <summary><c>letterlock web</c>: a one-time login link to the web app of the running bridge, opened in the browser.</summary>
internal static class WebCommand
{
    public static Command Create()
    {
        var access = new ClientStoreAccess();
        var print = new Option<bool>("--print") { Description = "Print the link instead of opening a browser." };
        var command = new Command("web",
            "Open the web app of the running bridge (letterlock bridge) in your browser with a one-time login link.\n" +
            "The link is good for one login within the hour; unlocking the store is what entitles you to it.\n" +
            "Without a graphical session (or with --print) the link is printed instead.\n\n" +
            "Examples:\n" +
            "  letterlock web\n" +
            "  letterlock web --print --key-file ~/.config/letterlock/store.key")
        {
            print,
        };
        access.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            using var store = await access.OpenAsync(parse, ct);
            var url = await Web.WebHost.FindAsync(store, ct)
                ?? throw new CliException("no web app has run for this client yet: start it with `letterlock bridge`", 3);
            if (!await RunningAsync(url, ct))
            {
                throw new CliException($"the web app at {url} does not answer: is `letterlock bridge` running?", 3);
            }

            var link = await Web.WebHost.NewLoginLinkAsync(store, url, ct: ct);
            var output = parse.InvocationConfiguration.Output;
            if (!parse.GetValue(print) && TryOpen(link))
            {
                await output.WriteLineAsync($"Opened the web app in your browser ({url}).");
                return 0;
            }

            await output.WriteLineAsync($"Open this one-time login link in your browser:\n  {link}");
            return 0;
        });
        return command;
    }

    private static async Task<bool> RunningAsync(Uri url, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(new Uri(url, "api/ping"), ct);
            return response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync(ct)).Contains("letterlock-web", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>Hands the link to the desktop's browser (xdg-open) when there is a graphical session; the link goes as an argument, never through a shell.</summary>
    private static bool TryOpen(Uri link)
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DISPLAY")) && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("WAYLAND_DISPLAY")))
        {
            return false;
        }

        try
        {
            using var process = Process.Start(new ProcessStartInfo("xdg-open") { ArgumentList = { link.ToString() }, UseShellExecute = false });
            return process is not null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
