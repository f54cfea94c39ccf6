module GcnKd.Tests.GraphOpsTests
