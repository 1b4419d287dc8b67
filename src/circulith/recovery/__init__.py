"""Recovery: composition → unit operations → mass balance; valuation; pricing; compliance metrics."""
