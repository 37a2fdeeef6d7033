"""Strategy: incremental indicators, the EMA/RSI scalper, the risk engine, the trading halt, the signal log,
the paper executor.

Plain Python with no I/O; from ``feeds`` it imports only the event model. It never places orders: the
paper executor fills them on paper.
"""
from strategy.halt import ClockSkewMonitor, HaltRecord, ReconnectStormDetector, TradingHalt, halt_from_env
from strategy.indicators import ATR, EMA, RSI
from strategy.paper import PaperConfig, PaperExecutor
from strategy.risk import Decision, RiskConfig, RiskEngine
from strategy.scalper import ScalperParams, ScalpStrategy, Signal, latency
from strategy.signal_log import SignalLog

__all__ = [
    "ATR", "EMA", "RSI", "ScalperParams", "ScalpStrategy", "Signal", "latency", "RiskConfig", "RiskEngine",
    "Decision", "SignalLog", "TradingHalt", "HaltRecord", "halt_from_env", "ReconnectStormDetector",
    "ClockSkewMonitor", "PaperConfig", "PaperExecutor",
]
