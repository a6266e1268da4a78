namespace Letterlock.Testing;

/// <summary>
/// A long soak test, left out of the default run (it would dominate it): it runs when the environment variable
/// <c>LETTERLOCK_SOAK</c> is set, e.g. <c>LETTERLOCK_SOAK=1 dotnet test tests/Letterlock.Cli.Tests --filter Category=Soak</c>.
/// Mark such tests also with <c>[Trait(TestCategory.Name, TestCategory.Soak)]</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SoakFactAttribute : FactAttribute
{
    public SoakFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("LETTERLOCK_SOAK")))
        {
            Skip = "a soak test: set LETTERLOCK_SOAK=1 to run it";
        }
    }
}
