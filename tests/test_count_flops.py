"""tlc.accel.count_flops: exact FLOP counts of small computations, forward and backward."""

import torch
from torch import nn

import tlcourse as tlc
from tlcourse.accel import count_flops


def test_linear_forward_is_two_flops_per_weight_per_example():
    layer = nn.Linear(5, 7)
    out, flops = count_flops(layer, torch.ones(3, 5))
    assert out.shape == (3, 7)
    assert flops == 2 * 3 * 5 * 7


def test_depthwise_convolution_backward_counts_its_groups():
    # torch 2.14's own formula counts this backward pass 1,152 times too high.
    conv = nn.Conv2d(96, 96, 3, stride=2, padding=1, groups=96, bias=False)
    forward = 2 * 4 * 96 * 9 * 8 * 8           # batch 4, 96 channels, 3x3 kernel, 8x8 output
    x = torch.randn(4, 96, 16, 16)
    assert count_flops(conv, x)[1] == forward
    x.requires_grad_(True)
    # + the gradients of the input and of the weight
    assert count_flops(lambda: conv(x).sum().backward())[1] == 3 * forward
    conv.weight.requires_grad_(False)
    assert count_flops(lambda: conv(x).sum().backward())[1] == 2 * forward   # + the input's only


def test_grouped_and_transposed_convolutions():
    grouped = nn.Conv2d(8, 12, 3, padding=1, groups=4, bias=False)
    x = torch.randn(2, 8, 5, 5)
    assert count_flops(grouped, x)[1] == 2 * 2 * 12 * (8 // 4) * 9 * 5 * 5
    up = nn.ConvTranspose2d(6, 4, 2, stride=2, bias=False)
    x = torch.randn(3, 6, 5, 5, requires_grad=True)
    forward = 2 * 3 * 6 * 4 * 4 * 5 * 5       # each input position meets the whole 6x4x2x2 weight
    assert count_flops(up, x)[1] == forward
    assert count_flops(lambda: up(x).sum().backward())[1] == 3 * forward


def test_frozen_layers_below_everything_trainable_cost_no_backward_flops():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8 * 6 * 6, 10))
    net[0].requires_grad_(False)
    x = torch.randn(2, 3, 8, 8)
    conv, linear = 2 * 2 * 8 * 3 * 9 * 6 * 6, 2 * 2 * 288 * 10
    assert count_flops(net, x)[1] == conv + linear
    # The linear layer's weight gradient only: nothing below it needs a gradient.
    assert count_flops(lambda: net(x).sum().backward())[1] == conv + 2 * linear


def test_fit_costs_epochs_times_examples_times_a_training_step():
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(40, 6), torch.randint(0, 3, (40,)))
    loader = tlc.data.make_loader(data, 16, shuffle=True, seed=0, device="cpu")
    model = nn.Linear(6, 3)
    history, flops = count_flops(tlc.train.fit, model, loader, num_epochs=2, lr=0.1, device="cpu",
                                 progress=False)
    assert len(history.epochs) == 2
    assert flops == 2 * 40 * (2 * 6 * 3 + 2 * 6 * 3)   # forward + weight gradient, per example
