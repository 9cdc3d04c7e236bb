using Microsoft.ML.Data;

namespace Mesh.FraudModel;

/// <summary>The features a card payment carries when it is scored. These are the ONNX model's inputs.</summary>
public class TransactionFeatures
{
    /// <summary>Amount in the card's currency.</summary>
    public float Amount { get; set; }
    /// <summary>Local hour of day, 0-23.</summary>
    public float Hour { get; set; }
    /// <summary>Distance from the card holder's home, km.</summary>
    public float DistanceKm { get; set; }
    /// <summary>Payments on the same card in the hour before this one.</summary>
    public float RecentCount { get; set; }
    /// <summary>1 if the merchant is abroad.</summary>
    public float Foreign { get; set; }
    /// <summary>Merchant category: grocery, fuel, restaurant, travel, electronics, gift_cards, online.</summary>
    public string Category { get; set; } = "";
}

/// <summary>A labelled transaction for training.</summary>
public sealed class Transaction : TransactionFeatures
{
    [ColumnName("Label")]
    public bool IsFraud { get; set; }
}
