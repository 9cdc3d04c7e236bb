namespace Mesh.FraudModel;

/// <summary>
/// Synthetic card payments. Fraud is rarer (about 4%) and leans on the signals real fraud shows: large amounts,
/// night hours, far from home, abroad, bursts of payments, and categories that resell easily.
/// </summary>
public static class TransactionGenerator
{
    public static readonly string[] Categories = ["grocery", "fuel", "restaurant", "travel", "electronics", "gift_cards", "online"];
    private static readonly string[] RiskyCategories = ["electronics", "gift_cards", "online"];

    public static List<Transaction> Generate(int count, int seed)
    {
        var random = new Random(seed);
        var list = new List<Transaction>(count);
        for (var i = 0; i < count; i++)
        {
            // Overlap on purpose: some fraud tests a stolen card with small local payments, and some honest
            // customers travel, so the classifier has to weigh signals rather than read one.
            var fraud = random.NextDouble() < 0.04;
            var atypical = random.NextDouble() < 0.12;
            list.Add(fraud ? (atypical ? CardTesting(random) : Fraudulent(random)) : (atypical ? Travelling(random) : Clean(random)));
        }
        return list;
    }

    private static Transaction Clean(Random r) => new()
    {
        Amount = (float)Math.Round(Math.Exp(r.NextDouble() * 4 + 1.5), 2),          // ~4.5 .. 245
        Hour = r.Next(7, 23),
        DistanceKm = (float)Math.Round(r.NextDouble() * r.NextDouble() * 40, 1),
        RecentCount = r.Next(0, 3),
        Foreign = r.NextDouble() < 0.03 ? 1 : 0,
        Category = Categories[r.Next(Categories.Length)],
        IsFraud = false,
    };

    private static Transaction Travelling(Random r)
    {
        var t = Clean(r);
        t.Amount = (float)Math.Round(Math.Exp(r.NextDouble() * 2.5 + 4), 2);          // ~55 .. 670
        t.DistanceKm = (float)Math.Round(100 + r.NextDouble() * 2500, 1);
        t.Foreign = r.NextDouble() < 0.5 ? 1 : 0;
        t.Hour = r.Next(0, 24);
        t.Category = r.NextDouble() < 0.5 ? "travel" : Categories[r.Next(Categories.Length)];
        return t;
    }

    private static Transaction CardTesting(Random r) => new()
    {
        Amount = (float)Math.Round(1 + r.NextDouble() * 20, 2),
        Hour = r.Next(0, 24),
        DistanceKm = (float)Math.Round(r.NextDouble() * 60, 1),
        RecentCount = r.Next(2, 8),
        Foreign = 0,
        Category = r.NextDouble() < 0.6 ? "online" : Categories[r.Next(Categories.Length)],
        IsFraud = true,
    };

    private static Transaction Fraudulent(Random r) => new()
    {
        Amount = (float)Math.Round(Math.Exp(r.NextDouble() * 2.5 + 5), 2),          // ~150 .. 1800
        Hour = r.NextDouble() < 0.7 ? r.Next(0, 6) : r.Next(0, 24),
        DistanceKm = (float)Math.Round(200 + r.NextDouble() * 3000, 1),
        RecentCount = r.Next(3, 12),
        Foreign = r.NextDouble() < 0.6 ? 1 : 0,
        Category = r.NextDouble() < 0.8 ? RiskyCategories[r.Next(RiskyCategories.Length)] : Categories[r.Next(Categories.Length)],
        IsFraud = true,
    };
}
