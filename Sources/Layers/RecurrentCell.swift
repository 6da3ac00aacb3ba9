// The two recurrent cells of RecurrentLayer, with PyTorch's gate orders: nn.LSTM (i f g o) and
// nn.GRU (r z n, n = tanh(W_in x + b_in + r * (W_hn h + b_hn))).

public enum RecurrentCell: String, Sendable, Codable {
    case lstm, gru

    /// Gate blocks per hidden unit: 4 for LSTM (i f g o), 3 for GRU (r z n).
    public var gateCount: Int { self == .lstm ? 4 : 3 }
}
